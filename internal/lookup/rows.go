package lookup

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

// Tables that carry a tracking_id column, in the order a request writes them.
var Tables = []string{"sessions", "workflow_runs"}

// Row is one database row a request wrote.
type Row struct {
	Table   string         `json:"table"`
	Columns []string       `json:"columns"`
	Values  map[string]any `json:"values"`
}

// DB is the services' database, opened for reading.
type DB struct {
	db     *sql.DB
	system string
	Where  string // for messages: the file or the URL without its password
}

// OpenDB opens PostgreSQL when databaseURL is set, else the SQLite file the
// gateway keeps in dataDir (read-only: looking must not change anything).
func OpenDB(ctx context.Context, dataDir, databaseURL string) (*DB, error) {
	d := &DB{}
	var err error
	if databaseURL != "" {
		d.system, d.Where = "postgresql", redactURL(databaseURL)
		d.db, err = sql.Open("pgx", databaseURL)
	} else {
		path := filepath.Join(dataDir, "ai-teams.db")
		d.system, d.Where = "sqlite", path
		if _, serr := os.Stat(path); serr != nil {
			return nil, fmt.Errorf("no database at %s: %w", path, serr)
		}
		d.db, err = sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	}
	if err != nil {
		return nil, err
	}
	if err := d.db.PingContext(ctx); err != nil {
		d.db.Close()
		return nil, fmt.Errorf("connecting to %s: %w", d.Where, err)
	}
	return d, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Rows returns every row of Tables whose tracking_id is id.
func (d *DB) Rows(ctx context.Context, id string) ([]Row, error) {
	placeholder := "?"
	if d.system == "postgresql" {
		placeholder = "$1"
	}
	var out []Row
	for _, table := range Tables {
		rows, err := d.db.QueryContext(ctx, "SELECT * FROM "+table+" WHERE tracking_id = "+placeholder, id)
		if err != nil {
			return out, fmt.Errorf("%s: %w", table, err)
		}
		got, err := scanRows(table, rows)
		if err != nil {
			return out, fmt.Errorf("%s: %w", table, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

func scanRows(table string, rows *sql.Rows) ([]Row, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []Row
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		r := Row{Table: table, Columns: cols, Values: map[string]any{}}
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			r.Values[c] = vals[i]
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
