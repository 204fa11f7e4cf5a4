package dbstore

// WithoutReturning makes s clear expired rows the way it does on MySQL,
// which has no DELETE ... RETURNING, so that the path runs on MariaDB too.
func WithoutReturning(s *Store) { s.returning = false }

// Returning reports whether s deletes with DELETE ... RETURNING.
func Returning(s *Store) bool { return s.returning }
