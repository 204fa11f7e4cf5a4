package cachetest

import (
	"fmt"
	"os/exec"
)

// StartRedis starts a private Redis outside a test (the benchmark), with no
// password; Server.Stop stops it, and it dies with this process.
func StartRedis() (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%w; install with apt-get install redis-server", err)
	}
	var s *Server
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before the server binds it
		if s, err = startRedis(bin, ""); err == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("starting redis: %w", err)
}
