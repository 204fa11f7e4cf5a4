package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// server is a running FUSE file system process: a sessionfs mount or
// go-fuse's loopback example.
type server struct {
	cmd     *exec.Cmd
	dir     string   // mount point
	unmount []string // the command that ends it
	log     string   // its stderr, for errors
	done    chan error
}

// mountSessionfs starts `sessionfs mount` of backing at mnt and waits for its
// "sessionfs: mounted" line.
func (b *bench) mountSessionfs(backing, mnt string, args ...string) (*server, error) {
	argv := append([]string{b.bin, "mount", "--session-file-path", backing, "--secret-key-file", b.keyFile}, args...)
	return b.startServer(append(argv, mnt), "sessionfs: mounted", mnt, []string{b.bin, "umount", mnt})
}

// startServer runs argv, which mounts at mnt and prints a line starting
// with ready once it serves.
func (b *bench) startServer(argv []string, ready, mnt string, unmount []string) (*server, error) {
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.CreateTemp(b.work, "server-log-")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, dir: mnt, unmount: unmount, log: logf.Name(), done: make(chan error, 1)}
	up := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if !ok && strings.HasPrefix(sc.Text(), ready) {
				ok = true
				up <- true
			}
		}
		if !ok {
			up <- false
		}
		io.Copy(io.Discard, out)
		s.done <- cmd.Wait()
	}()
	select {
	case ok := <-up:
		if !ok {
			<-s.done
			return nil, fmt.Errorf("%s did not mount:\n%s", argv[0], s.stderr())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-s.done
		return nil, fmt.Errorf("%s not mounted after 60s:\n%s", argv[0], s.stderr())
	}
	return s, nil
}

func (s *server) stderr() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// peakRSS is the server's VmHWM so far, in KiB.
func (s *server) peakRSS() (int64, error) { return vmHWM(s.cmd.Process.Pid) }

// stop unmounts and waits for the process to end; it kills it when the
// unmount fails or it lingers.
func (s *server) stop() error {
	if out, err := exec.Command(s.unmount[0], s.unmount[1:]...).CombinedOutput(); err != nil {
		progress("unmount %s: %v: %s; killing the server", s.dir, err, out)
		s.cmd.Process.Kill()
	}
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", s.cmd.Path, err, s.stderr())
		}
		return nil
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		exec.Command("fusermount3", "-u", "-z", s.dir).Run()
		return fmt.Errorf("%s did not exit 30s after unmount", s.cmd.Path)
	}
}
