package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

const repoRoot = "../.."

// serviceVars builds a service and returns the environment variables its
// -help lists, so deployment files are checked against what the code reads.
var (
	varsMu    sync.Mutex
	varsCache = map[string]map[string]bool{}
)

func serviceVars(t *testing.T, svc string) map[string]bool {
	t.Helper()
	varsMu.Lock()
	defer varsMu.Unlock()
	if v, ok := varsCache[svc]; ok {
		return v
	}
	dir := filepath.Join(repoRoot, "services", svc)
	if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
		t.Fatalf("deployment names service %q, but services/%s/main.go does not exist", svc, svc)
	}
	bin := filepath.Join(t.TempDir(), svc)
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", svc, err, out)
	}
	out, err := exec.Command(bin, "-help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -help: %v\n%s", svc, err, out)
	}
	vars := map[string]bool{}
	name := regexp.MustCompile(`^([A-Z][A-Z0-9_]+)\s`)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := name.FindStringSubmatch(sc.Text()); m != nil && m[1] != "KEY" {
			vars[m[1]] = true
		}
	}
	if len(vars) == 0 {
		t.Fatalf("%s -help listed no variables:\n%s", svc, out)
	}
	varsCache[svc] = vars
	return vars
}

func checkEnv(t *testing.T, where, svc string, env map[string]string) {
	t.Helper()
	vars := serviceVars(t, svc)
	var unknown []string
	for k := range env {
		if !vars[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Errorf("%s sets %v for %s, which it does not read", where, unknown, svc)
	}
}

// infrastructure images that are not Firehole services.
var thirdParty = map[string]bool{"nats": true, "postgres": true, "redis": true, "prometheus": true, "grafana": true}

func TestComposeNamesRealServicesAndVariables(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Build       struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	if len(doc.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	for name, s := range doc.Services {
		if thirdParty[name] {
			if s.Image == "" || strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
				t.Errorf("compose %s: image %q must be pinned", name, s.Image)
			}
			continue
		}
		if _, err := os.Stat(filepath.Join(repoRoot, s.Build.Dockerfile)); err != nil {
			t.Errorf("compose %s: dockerfile %q: %v", name, s.Build.Dockerfile, err)
		}
		// The binary is the service whose Dockerfile builds it (the
		// backfill service runs the ingestor).
		checkEnv(t, "docker-compose.yml", filepath.Base(filepath.Dir(s.Build.Dockerfile)), s.Environment)
	}
}

// TestDashboardIsValid: the Grafana dashboard parses and every panel queries
// Firehole metrics.
func TestDashboardIsValid(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "firehole.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatal("dashboard has no uid or no panels")
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if !strings.Contains(q.Expr, "firehole_") {
				t.Errorf("panel %q queries %q, no Firehole metric", p.Title, q.Expr)
			}
		}
	}
}

func TestKubernetesManifestsNameRealServicesAndVariables(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	deployments := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var obj struct {
				Kind     string `yaml:"kind"`
				Metadata struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
				Spec struct {
					Template struct {
						Spec struct {
							Containers []struct {
								Name  string `yaml:"name"`
								Image string `yaml:"image"`
								Env   []struct {
									Name string `yaml:"name"`
								} `yaml:"env"`
							} `yaml:"containers"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			}
			if err := dec.Decode(&obj); err != nil {
				if err.Error() == "EOF" {
					break
				}
				t.Fatalf("parse %s: %v", f, err)
			}
			if obj.Kind != "Deployment" && obj.Kind != "Job" {
				continue
			}
			deployments++
			for _, c := range obj.Spec.Template.Spec.Containers {
				env := map[string]string{}
				for _, e := range c.Env {
					env[e.Name] = ""
				}
				checkEnv(t, filepath.Base(f), c.Name, env)
			}
		}
	}
	if deployments == 0 {
		t.Fatal("no Deployments found in deploy/k8s")
	}
}

func TestDevPlanNamesRealServicesAndVariables(t *testing.T) {
	for _, p := range plan(Config{SimRate: 1, Commitment: "confirmed"}, "nats://127.0.0.1:1") {
		env := map[string]string{}
		for _, kv := range p.env {
			k, _, _ := strings.Cut(kv, "=")
			env[k] = ""
		}
		checkEnv(t, "the dev command", p.name, env)
	}
}

// TestDockerfilesCopyEveryLocalModule: with no Docker engine here, check
// statically that each service image gets the sources of every module its
// go.mod replaces with a local path (a missing COPY breaks `docker build`).
func TestDockerfilesCopyEveryLocalModule(t *testing.T) {
	for _, svc := range services {
		dir := filepath.Join(repoRoot, "services", svc)
		docker, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
		if err != nil {
			t.Errorf("%s: %v", svc, err)
			continue
		}
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		need := []string{"services/" + svc}
		for _, line := range strings.Split(string(mod), "\n") {
			_, target, ok := strings.Cut(line, "=> ")
			if !ok || !strings.HasPrefix(strings.TrimSpace(target), "../") {
				continue
			}
			rel, err := filepath.Rel(repoRoot, filepath.Join(dir, strings.TrimSpace(target)))
			if err != nil {
				t.Fatal(err)
			}
			need = append(need, filepath.ToSlash(rel))
		}
		for _, m := range need {
			if !strings.Contains(string(docker), "COPY "+m+"/ "+m+"/") {
				t.Errorf("services/%s/Dockerfile does not COPY %s/ (the module is a local replace)", svc, m)
			}
		}
		if !strings.Contains(string(docker), "go build") || !strings.Contains(string(docker), "ENTRYPOINT") {
			t.Errorf("services/%s/Dockerfile builds or runs nothing", svc)
		}
	}
}
