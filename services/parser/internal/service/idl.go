package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/services/parser/internal/anchor"
	"github.com/firehole/firehole/services/parser/internal/idlfetch"
)

// IDLCommand is `parser idl fetch -rpc URL -program ADDRESS [-out FILE]`:
// it reads the program's Anchor IDL from the chain, checks that the parser
// can load it, and writes it (to stdout without -out), ready for
// PARSER_IDL_DIR.
func IDLCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "fetch" {
		return errors.New("usage: parser idl fetch -rpc URL -program ADDRESS [-out FILE]")
	}
	fs := flag.NewFlagSet("idl fetch", flag.ContinueOnError)
	fs.SetOutput(stdout)
	rpc := fs.String("rpc", "", "Solana JSON-RPC URL")
	prog := fs.String("program", "", "program address (base58)")
	out := fs.String("out", "", "file to write (default: stdout)")
	timeout := fs.Duration("timeout", 30*time.Second, "time allowed for the request")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config.ErrHelp // usage printed; exit 0
		}
		return err
	}
	if *rpc == "" || *prog == "" {
		return errors.New("idl fetch: -rpc and -program are required")
	}
	program, err := base58.Decode32(*prog)
	if err != nil {
		return fmt.Errorf("idl fetch: -program: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	idl, err := idlfetch.Fetch(ctx, http.DefaultClient, *rpc, program)
	if err != nil {
		return fmt.Errorf("idl fetch: %w", err)
	}
	p, err := anchor.ParseIDL(idl)
	if err != nil {
		return fmt.Errorf("idl fetch: the IDL on chain does not load: %w", err)
	}
	idl = append(idl, '\n')
	if *out == "" {
		_, err = stdout.Write(idl)
		return err
	}
	if err := os.WriteFile(*out, idl, 0o644); err != nil {
		return fmt.Errorf("idl fetch: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%s, %d account types)\n", *out, p.Name(), len(p.AccountTypes()))
	return nil
}
