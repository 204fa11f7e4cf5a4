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

// CreateDatabase is NewDatabase outside a test (PostgreSQL): an empty
// database named name, owned by a user of its own. It stays until the
// server stops.
func (s *Server) CreateDatabase(name string) (*Database, error) {
	if s.Engine != dbstore.PostgreSQL {
		return nil, fmt.Errorf("CreateDatabase: %s is not supported", s.Engine)
	}
	d := &Database{Server: s, Name: name, User: "u_" + name, Password: "pw/" + randomHex(6) + "@:%"}
	for _, q := range []string{
		fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, d.User, d.Password),
		fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, d.Name, d.User),
	} {
		if _, err := s.admin.Exec(q); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", s.Engine, q, err)
		}
	}
	return d, nil
}

// Copy creates database name as a copy of d (CREATE DATABASE ... TEMPLATE,
// a file copy), with the same owner. Nobody may be connected to d.
func (d *Database) Copy(name string) (*Database, error) {
	q := fmt.Sprintf(`CREATE DATABASE %s OWNER %s TEMPLATE %s`, name, d.User, d.Name)
	if _, err := d.Server.admin.Exec(q); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", d.Server.Engine, q, err)
	}
	c := *d
	c.Name = name
	return &c, nil
}

// DSN is a libpq keyword/value string of the database's owner over the
// unix socket (PostgreSQL), for pgx.Connect.
func (d *Database) DSN() string { return d.Server.pgDSN(d.Name, d.User, d.Password, true) }

// SessionTableDDL is what Django's migration of django.contrib.sessions
// creates on the engine.
func SessionTableDDL(engine dbstore.Engine) []string { return djangoDDL[engine] }
