// Package config loads a service's configuration from environment variables
// (envconfig) and validates it once, at start.
//
// Every service keeps one struct with an envconfig prefix and a Validate
// method that reports every problem at once, naming the variable.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// Validator is implemented by config structs that check themselves.
type Validator interface {
	Validate() error
}

// ErrHelp is returned by Load when -help was asked for; the usage has been
// printed and the caller should exit 0.
var ErrHelp = errors.New("help requested")

// Load fills spec from the environment under prefix and validates it.
// args are the command-line arguments (without the program name); "-help"
// or "--help" prints every variable with its default and returns ErrHelp.
func Load(prefix string, spec any, args []string, out io.Writer) error {
	fs := flag.NewFlagSet(prefix, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	help := fs.Bool("help", false, "print the environment variables")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parse flags: %w (configuration is read from the environment; -help lists it)", err)
	}
	if *help {
		fmt.Fprintf(out, "%s is configured with these environment variables:\n\n", strings.ToLower(prefix))
		if err := envconfig.Usagef(prefix, spec, out, envconfig.DefaultTableFormat); err != nil {
			return err
		}
		return ErrHelp
	}
	if err := envconfig.Process(prefix, spec); err != nil {
		return fmt.Errorf("read environment: %w", err)
	}
	if v, ok := spec.(Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("invalid configuration:\n%w", err)
		}
	}
	return nil
}

// Problems collects validation problems; Err joins them.
type Problems struct {
	errs []error
}

// Addf records one problem; name it after the environment variable.
func (p *Problems) Addf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

// Check records msg for variable name when bad is true.
func (p *Problems) Check(bad bool, name, msg string) {
	if bad {
		p.errs = append(p.errs, fmt.Errorf("%s: %s", name, msg))
	}
}

// Err is nil when nothing was recorded.
func (p *Problems) Err() error { return errors.Join(p.errs...) }

// Exit turns run's error into a process exit code, printing it to stderr.
func Exit(err error) int {
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return 0
	default:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
}
