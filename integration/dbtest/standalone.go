package dbtest

import (
	"fmt"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// StartServer starts a private server outside a test (the benchmark): the
// same server Start gives a test, stopped by Server.Stop. A missing server
// binary is an error naming the install command.
func StartServer(engine dbstore.Engine) (*Server, error) {
	srv, miss, err := start(engine)
	if miss != "" {
		return nil, fmt.Errorf("%s; install with: %s", miss, harness.InstallHint)
	}
	return srv, err
}

// CreateDatabase is NewDatabase outside a test: an empty database named
// name owned by a user of its own, a copy of database template when that is
// not "" (PostgreSQL only). It stays until the server stops.
func (s *Server) CreateDatabase(name, template string) (*Database, error) {
	d := &Database{Server: s, Name: name, User: "u_" + name, Password: "pw/" + randomHex(6) + "@:%"}
	var stmts []string
	switch s.Engine {
	case dbstore.PostgreSQL:
		create := fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, d.Name, d.User)
		if template != "" {
			create += " TEMPLATE " + template
		}
		stmts = []string{fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, d.User, d.Password), create}
	default:
		return nil, fmt.Errorf("CreateDatabase: %s is not supported", s.Engine)
	}
	for _, q := range stmts {
		if _, err := s.admin.Exec(q); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", s.Engine, q, err)
		}
	}
	return d, nil
}

// DSN is a libpq keyword/value string of the database's owner over the
// unix socket (PostgreSQL), for pgx.Connect.
func (d *Database) DSN() string { return d.Server.pgDSN(d.Name, d.User, d.Password, true) }

// SessionTableDDL is what Django's migration of django.contrib.sessions
// creates on the engine.
func SessionTableDDL(engine dbstore.Engine) []string { return djangoDDL[engine] }
