// Command control-plane runs a real Kubernetes control plane, on loopback only, for the
// integration tests of ebs-volume-remediator, one component per process:
//
//	control-plane apiserver -dir D            kube-apiserver with an embedded etcd
//	control-plane controller-manager FLAGS... kube-controller-manager (components.go)
//	control-plane scheduler FLAGS...          kube-scheduler (components.go)
//
// It plays the part of controller-runtime's envtest without downloading release binaries:
// everything is built from Go modules. RBAC and token authentication are on, with one admin
// identity (group system:masters) and one identity for the remediator itself (user and group
// "ebs-volume-remediator"), so tests see exactly what RBAC lets the remediator do.
//
// When the apiserver answers /readyz it prints one JSON line on stdout:
//
//	{"ready":true,"server":"https://127.0.0.1:PORT","kubeconfigs":{"admin":"...","remediator":"..."}}
//
// It stops on SIGINT/SIGTERM, and also when its standard input closes, so that a test runner
// that dies without cleaning up never leaves it running.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	kcmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	schedulerapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// Identity is one user the server accepts a bearer token for.
type identity struct {
	name   string // kubeconfig file name and the key in the ready line
	user   string
	groups string // comma-separated, as the token file wants them
}

var identities = []identity{
	{name: "admin", user: "admin", groups: "system:masters"},
	{name: "remediator", user: "ebs-volume-remediator", groups: "ebs-volume-remediator"},
	// The AWS cloud-controller-manager: an identity of its own, so an admission policy can keep
	// it away from the Nodes of test clusters that have no cloud node lifecycle.
	{name: "cloud-controller-manager", user: "cloud-controller-manager", groups: "system:masters"},
}

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: control-plane apiserver|controller-manager|scheduler [flags]"))
	}
	switch os.Args[1] {
	case "apiserver":
		runAPIServer(os.Args[2:])
	case "controller-manager":
		runComponent(kcmapp.NewControllerManagerCommand(), os.Args[2:])
	case "scheduler":
		runComponent(schedulerapp.NewSchedulerCommand(), os.Args[2:])
	default:
		fail(fmt.Errorf("unknown command %q: want apiserver, controller-manager or scheduler", os.Args[1]))
	}
}

func runAPIServer(args []string) {
	flags := flag.NewFlagSet("apiserver", flag.ExitOnError)
	dir := flags.String("dir", "", "working directory for etcd data, certificates and kubeconfigs (required)")
	readyTimeout := flags.Duration("ready-timeout", 3*time.Minute, "how long to wait for /readyz")
	_ = flags.Parse(args)
	if *dir == "" {
		fail(errors.New("-dir is required"))
	}
	if err := run(*dir, *readyTimeout); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "control-plane: %v\n", err)
	os.Exit(1)
}

func run(dir string, readyTimeout time.Duration) error {
	for _, sub := range []string{"etcd", "certs", "kubeconfigs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	ports, err := freePorts(3)
	if err != nil {
		return fmt.Errorf("finding free loopback ports: %w", err)
	}
	etcdClientPort, etcdPeerPort, securePort := ports[0], ports[1], ports[2]

	etcd, err := startEtcd(filepath.Join(dir, "etcd"), etcdClientPort, etcdPeerPort)
	if err != nil {
		return fmt.Errorf("starting embedded etcd: %w", err)
	}
	defer etcd.Close()

	certDir := filepath.Join(dir, "certs")
	saKey := filepath.Join(certDir, "service-account.key")
	if err := writeServiceAccountKey(saKey); err != nil {
		return fmt.Errorf("writing service account key: %w", err)
	}
	tokens, tokenFile, err := writeTokenFile(certDir)
	if err != nil {
		return fmt.Errorf("writing token file: %w", err)
	}

	cmd := app.NewAPIServerCommand()
	cmd.SetArgs([]string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdClientPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", securePort),
		"--cert-dir=" + certDir,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=Node,RBAC",
		"--token-auth-file=" + tokenFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saKey,
		"--service-account-signing-key-file=" + saKey,
		"--disable-admission-plugins=ServiceAccount",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--v=0",
	})

	apiserverDone := make(chan int, 1)
	go func() { apiserverDone <- cli.Run(cmd) }()

	server := fmt.Sprintf("https://127.0.0.1:%d", securePort)
	if err := waitReady(server, tokens["admin"], readyTimeout, apiserverDone); err != nil {
		return err
	}
	// The serving certificate exists once the server listens; it is self-signed and its file
	// holds the chain, which is what a client needs to trust it.
	caPEM, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		return fmt.Errorf("reading serving certificate: %w", err)
	}
	kubeconfigs := map[string]string{}
	for _, id := range identities {
		path := filepath.Join(dir, "kubeconfigs", id.name+".kubeconfig")
		if err := writeKubeconfig(path, server, caPEM, id.user, tokens[id.name]); err != nil {
			return fmt.Errorf("writing kubeconfig for %s: %w", id.name, err)
		}
		kubeconfigs[id.name] = path
	}
	ready, _ := json.Marshal(map[string]any{"ready": true, "server": server, "kubeconfigs": kubeconfigs})
	fmt.Println(string(ready))

	go stopWhenStdinCloses()
	code := <-apiserverDone
	if code != 0 {
		return fmt.Errorf("kube-apiserver exited with code %d", code)
	}
	return nil
}

// stopWhenStdinCloses sends ourselves SIGTERM when the parent's end of stdin goes away, so the
// apiserver shuts down through its own signal handler.
func stopWhenStdinCloses() {
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
}

func freePorts(n int) ([]int, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func startEtcd(dataDir string, clientPort, peerPort int) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dataDir
	cfg.Name = "control-plane-for-tests"
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = true // test data: speed matters, durability does not
	// kube-apiserver's consistent reads from its watch cache wait for progress notifications.
	cfg.WatchProgressNotifyInterval = 5 * time.Second
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("etcd was not ready after 60s")
	}
}

func writeServiceAccountKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

// writeTokenFile writes the static token file (token,user,uid,"groups") with a fresh random
// token per identity and returns the tokens by identity name.
func writeTokenFile(dir string) (map[string]string, string, error) {
	tokens := map[string]string{}
	var content string
	for _, id := range identities {
		raw := make([]byte, 24)
		if _, err := rand.Read(raw); err != nil {
			return nil, "", err
		}
		token := hex.EncodeToString(raw)
		tokens[id.name] = token
		content += fmt.Sprintf("%s,%s,%s,%q\n", token, id.user, id.user, id.groups)
	}
	path := filepath.Join(dir, "tokens.csv")
	return tokens, path, os.WriteFile(path, []byte(content), 0o600)
}

func waitReady(server, token string, timeout time.Duration, apiserverDone <-chan int) error {
	client := &http.Client{
		Timeout: 5 * time.Second,
		// Only the readiness probe skips verification: the certificate does not exist until
		// the server has generated it. Kubeconfigs carry the real CA.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case code := <-apiserverDone:
			return fmt.Errorf("kube-apiserver exited with code %d before it was ready", code)
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver was not ready after %s (last answer: %s)", timeout, last)
}

func writeKubeconfig(path, server string, caPEM []byte, user, token string) error {
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: %s@test
  context:
    cluster: test
    user: %s
current-context: %s@test
`, server, base64.StdEncoding.EncodeToString(caPEM), user, token, user, user, user)
	return os.WriteFile(path, []byte(content), 0o600)
}
