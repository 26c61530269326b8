package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// supervisor runs child services, restarts one that exits while the stack is
// up (with a growing delay), and stops them in reverse start order.
type supervisor struct {
	log    zerolog.Logger
	binDir string
	logDir string

	mu       sync.Mutex
	children []*child
	wg       sync.WaitGroup
}

type child struct {
	name   string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when the current cmd has been waited for
	stop   chan struct{}
	once   sync.Once
}

func newSupervisor(log zerolog.Logger, binDir, logDir string) *supervisor {
	return &supervisor{log: log.With().Str("component", "supervisor").Logger(), binDir: binDir, logDir: logDir}
}

// start launches every proc whose binary exists and returns their names.
func (s *supervisor) start(ctx context.Context, procs []proc) []string {
	var names []string
	for _, p := range procs {
		bin := filepath.Join(s.binDir, p.name)
		if _, err := os.Stat(bin); err != nil {
			s.log.Warn().Str("service", p.name).Str("binary", bin).Msg("not built; skipped")
			continue
		}
		c := &child{name: p.name, stop: make(chan struct{})}
		s.mu.Lock()
		s.children = append(s.children, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.keep(ctx, c, bin, p.env)
		names = append(names, p.name)
		time.Sleep(200 * time.Millisecond) // let sinks create consumers before sources publish
	}
	return names
}

func (s *supervisor) keep(ctx context.Context, c *child, bin string, env []string) {
	defer s.wg.Done()
	delay := time.Second
	for {
		out, err := os.OpenFile(filepath.Join(s.logDir, c.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			s.log.Error().Err(err).Str("service", c.name).Msg("open log")
			return
		}
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = out, out
		// Children die with the supervisor even if it is killed hard.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		exited := make(chan struct{})
		c.mu.Lock()
		err = cmd.Start()
		c.cmd, c.exited = cmd, exited
		c.mu.Unlock()
		if err != nil {
			close(exited)
			_ = out.Close()
			s.log.Error().Err(err).Str("service", c.name).Msg("start")
			return
		}
		s.log.Info().Str("service", c.name).Int("pid", cmd.Process.Pid).Msg("started")
		began := time.Now()
		err = cmd.Wait()
		close(exited)
		_ = out.Close()
		select {
		case <-c.stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		if time.Since(began) > time.Minute {
			delay = time.Second
		}
		s.log.Warn().Err(err).Str("service", c.name).Dur("restart_in", delay).Msg("exited; see its log")
		select {
		case <-time.After(delay):
		case <-c.stop:
			return
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// stop sends SIGTERM to the children in reverse start order, waiting up to
// grace for each before SIGKILL.
func (s *supervisor) stop(grace time.Duration) {
	s.mu.Lock()
	children := append([]*child(nil), s.children...)
	s.mu.Unlock()
	for i := len(children) - 1; i >= 0; i-- {
		children[i].halt(grace)
		s.log.Info().Str("service", children[i].name).Msg("stopped")
	}
	s.wg.Wait()
}

// find returns the child running the named service.
func (s *supervisor) find(name string) *child {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// signal sends sig to the named service's current process; the supervisor
// restarts it if it exits (tests use SIGKILL to crash a service).
func (s *supervisor) signal(name string, sig os.Signal) bool {
	c := s.find(name)
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return false
	}
	return c.cmd.Process.Signal(sig) == nil
}

// stopOne stops the named service for good (SIGTERM, then SIGKILL after grace).
func (s *supervisor) stopOne(name string, grace time.Duration) {
	c := s.find(name)
	if c == nil {
		return
	}
	c.halt(grace)
	s.log.Info().Str("service", name).Msg("stopped")
}

// halt stops keeping c alive and ends its process.
func (c *child) halt(grace time.Duration) {
	c.once.Do(func() { close(c.stop) })
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
	}
}
