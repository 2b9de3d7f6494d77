package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite" (pure Go)

	"github.com/starmates-ai/ai-teams/services/apigateway"
	"github.com/starmates-ai/ai-teams/telemetry"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// Store keeps sessions and workflow runs in SQLite or PostgreSQL. Every row
// carries the tracking id of the request that wrote it, and every statement
// runs inside a client span.
type Store struct {
	db     *sql.DB
	system string // semconv db.system.name: sqlite or postgresql
}

// OpenStore opens PostgreSQL when databaseURL is set, otherwise SQLite at
// dataDir/ai-teams.db, and runs the migrations.
func OpenStore(ctx context.Context, dataDir, databaseURL string) (*Store, error) {
	var s Store
	var err error
	if databaseURL != "" {
		s.system = "postgresql"
		s.db, err = sql.Open("pgx", databaseURL)
	} else {
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("creating DATA_DIR: %w", err)
		}
		s.system = "sqlite"
		dsn := "file:" + filepath.Join(dataDir, "ai-teams.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
		s.db, err = sql.Open("sqlite", dsn)
		if err == nil {
			s.db.SetMaxOpenConns(1) // SQLite has one writer; queueing here beats SQLITE_BUSY
		}
	}
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.db.PingContext(pingCtx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("connecting to %s: %w", s.system, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return &s, nil
}

// System is "sqlite" or "postgresql".
func (s *Store) System() string { return s.system }

// DB exposes the handle for tests and health checks.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// migrations run in order, once each; append, never edit.
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS sessions (
		id          VARCHAR(64) PRIMARY KEY,
		user_id     VARCHAR(128) NOT NULL,
		status      VARCHAR(16) NOT NULL,
		tracking_id CHAR(32) NOT NULL,
		created_at  TIMESTAMP NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS sessions_tracking_id ON sessions (tracking_id)`,
	`CREATE TABLE IF NOT EXISTS workflow_runs (
		id                VARCHAR(64) PRIMARY KEY,
		workflow_id       VARCHAR(64) NOT NULL,
		session_id        VARCHAR(64),
		user_id           VARCHAR(128) NOT NULL,
		goal              TEXT NOT NULL,
		workflow_type     VARCHAR(32) NOT NULL,
		status            VARCHAR(16) NOT NULL,
		reason            TEXT NOT NULL,
		steps             TEXT NOT NULL,
		provider          VARCHAR(64) NOT NULL,
		model             VARCHAR(128) NOT NULL,
		prompt_tokens     INTEGER NOT NULL,
		completion_tokens INTEGER NOT NULL,
		duration_ms       DOUBLE PRECISION NOT NULL,
		tracking_id       CHAR(32) NOT NULL,
		created_at        TIMESTAMP NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS workflow_runs_tracking_id ON workflow_runs (tracking_id)`,
	`CREATE INDEX IF NOT EXISTS workflow_runs_session_id ON workflow_runs (session_id)`,
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	var applied int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	for v := applied + 1; v <= len(migrations); v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), v, time.Now().UTC()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (s *Store) rebind(q string) string {
	if s.system != "postgresql" {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (s *Store) exec(ctx context.Context, op, table, q string, args ...any) error {
	q = s.rebind(q)
	ctx, end := telemetry.StartDBSpan(ctx, telemetry.DBCall{System: s.system, Operation: op, Collection: table, Query: q})
	_, err := s.db.ExecContext(ctx, q, args...)
	end(err)
	return err
}

func (s *Store) queryRow(ctx context.Context, table, q string, args []any, dest ...any) error {
	q = s.rebind(q)
	ctx, end := telemetry.StartDBSpan(ctx, telemetry.DBCall{System: s.system, Operation: "SELECT", Collection: table, Query: q})
	err := s.db.QueryRowContext(ctx, q, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		end(nil)
		return ErrNotFound
	}
	end(err)
	return err
}

// CreateSession inserts a session.
func (s *Store) CreateSession(ctx context.Context, ss apigateway.Session) error {
	return s.exec(ctx, "INSERT", "sessions",
		`INSERT INTO sessions (id, user_id, status, tracking_id, created_at) VALUES (?, ?, ?, ?, ?)`,
		ss.ID, ss.UserID, ss.Status, ss.TrackingID, ss.CreatedAt.UTC())
}

// GetSession reads a session by id.
func (s *Store) GetSession(ctx context.Context, id string) (apigateway.Session, error) {
	var ss apigateway.Session
	err := s.queryRow(ctx, "sessions",
		`SELECT id, user_id, status, tracking_id, created_at FROM sessions WHERE id = ?`, []any{id},
		&ss.ID, &ss.UserID, &ss.Status, &ss.TrackingID, &ss.CreatedAt)
	ss.CreatedAt = ss.CreatedAt.UTC()
	return ss, err
}

// CreateRun inserts a finished run in one statement, so a run is stored
// whole or not at all.
func (s *Store) CreateRun(ctx context.Context, run apigateway.WorkflowRun) error {
	steps, err := json.Marshal(run.Steps)
	if err != nil {
		return err
	}
	var session any
	if run.SessionID != "" {
		session = run.SessionID
	}
	return s.exec(ctx, "INSERT", "workflow_runs",
		`INSERT INTO workflow_runs (id, workflow_id, session_id, user_id, goal, workflow_type, status, reason, steps,
			provider, model, prompt_tokens, completion_tokens, duration_ms, tracking_id, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		run.ID, run.WorkflowID, session, run.UserID, run.Goal, run.WorkflowType, run.Status, run.Reason, string(steps),
		run.Provider, run.Model, run.PromptTokens, run.CompletionTokens, run.DurationMS, run.TrackingID, run.CreatedAt.UTC())
}

// GetRun reads a run by id.
func (s *Store) GetRun(ctx context.Context, id string) (apigateway.WorkflowRun, error) {
	var (
		r       apigateway.WorkflowRun
		session sql.NullString
		steps   string
	)
	err := s.queryRow(ctx, "workflow_runs",
		`SELECT id, workflow_id, session_id, user_id, goal, workflow_type, status, reason, steps,
			provider, model, prompt_tokens, completion_tokens, duration_ms, tracking_id, created_at
		 FROM workflow_runs WHERE id = ?`, []any{id},
		&r.ID, &r.WorkflowID, &session, &r.UserID, &r.Goal, &r.WorkflowType, &r.Status, &r.Reason, &steps,
		&r.Provider, &r.Model, &r.PromptTokens, &r.CompletionTokens, &r.DurationMS, &r.TrackingID, &r.CreatedAt)
	if err != nil {
		return r, err
	}
	r.SessionID = session.String
	r.CreatedAt = r.CreatedAt.UTC()
	if err := json.Unmarshal([]byte(steps), &r.Steps); err != nil {
		return r, fmt.Errorf("run %s has unreadable steps: %w", id, err)
	}
	return r, nil
}
