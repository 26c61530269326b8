// Package cachetest gives tests a Redis for pkg/accountcache: a client on
// the test Redis with a key prefix of the test's own (deleted afterwards),
// and a small Redis Cluster.
package cachetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/firehole/firehole/pkg/testenv"
)

// Client connects to the test Redis (pkg/testenv) and returns a key prefix
// of the test's own; every key under it is deleted when the test ends.
func Client(t testing.TB) (rueidis.Client, string) {
	t.Helper()
	addr := testenv.RedisAddr(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatalf("connect redis: %v", err)
	}
	prefix := testenv.Name(t) + ":"
	t.Cleanup(func() {
		DeletePrefix(c, prefix)
		c.Close()
	})
	return c, prefix
}

// DeletePrefix deletes every key under prefix (on every node of a cluster).
func DeletePrefix(c rueidis.Client, prefix string) {
	ctx := context.Background()
	for _, n := range c.Nodes() {
		var cursor uint64
		for {
			e, err := n.Do(ctx, n.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				break
			}
			for _, k := range e.Elements {
				n.Do(ctx, n.B().Del().Key(k).Build())
			}
			if e.Cursor == 0 {
				break
			}
			cursor = e.Cursor
		}
	}
}

// Cluster returns the seed addresses of a Redis Cluster for tests:
// FIREHOLE_TEST_REDIS_CLUSTER (comma separated) when set, otherwise a
// three-master cluster of redis-server processes started here (and killed
// when the test ends). Without either the test is skipped.
func Cluster(t testing.TB) []string {
	t.Helper()
	if v := os.Getenv("FIREHOLE_TEST_REDIS_CLUSTER"); v != "" {
		return strings.Split(v, ",")
	}
	server, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no FIREHOLE_TEST_REDIS_CLUSTER and no redis-server binary to start a cluster")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("no redis-cli to form a cluster")
	}
	dir := t.TempDir()
	var addrs []string
	for _, port := range freeClusterPorts(t, 3) {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", port)),
			"--dir", dir, "--save", "", "--appendonly", "no", "--protected-mode", "no")
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		waitTCP(t, addr)
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range addrs {
		for {
			host, port, _ := net.SplitHostPort(a)
			out, _ := exec.Command(cli, "-h", host, "-p", port, "cluster", "info").Output()
			if strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster at %s not ok: %s", a, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return addrs
}

// freeClusterPorts finds n ports p with p and p+10000 (the cluster bus) free.
func freeClusterPorts(t testing.TB, n int) []int {
	var ports []int
	for tries := 0; len(ports) < n && tries < 200; tries++ {
		p := 20000 + rand.IntN(20000)
		if slices.Contains(ports, p) || !portFree(p) || !portFree(p+10000) {
			continue
		}
		ports = append(ports, p)
	}
	if len(ports) < n {
		t.Skip("no free ports for a test cluster")
	}
	return ports
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func waitTCP(t testing.TB, addr string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
