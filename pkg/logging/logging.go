// Package logging builds the one zerolog logger a service makes in main and
// passes down.
package logging

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// Config is shared by every service (embedded in its config struct).
type Config struct {
	Level  string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	Format string `envconfig:"LOG_FORMAT" default:"json" desc:"json or console"`
}

// Validate reports an unknown level or format.
func (c Config) Validate() error {
	if _, err := zerolog.ParseLevel(c.Level); err != nil || c.Level == "" {
		return fmt.Errorf("LOG_LEVEL: unknown level %q", c.Level)
	}
	if c.Format != "json" && c.Format != "console" {
		return fmt.Errorf("LOG_FORMAT: must be json or console, not %q", c.Format)
	}
	return nil
}

// New returns a logger writing to stderr with a service field.
func New(c Config, service string) zerolog.Logger {
	return NewTo(os.Stderr, c, service)
}

// NewTo is New with another destination (tests).
func NewTo(w io.Writer, c Config, service string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	if c.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", service).Logger()
}
