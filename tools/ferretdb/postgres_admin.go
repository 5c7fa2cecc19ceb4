package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Database names this tool creates or drops: letters, digits and underscores only, so they
// never need quoting rules beyond pgx's identifier sanitizing.
var databaseName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// maintenanceURL returns the database named in rawURL and a URL of the same server's
// `postgres` database, from which CREATE and DROP DATABASE are run.
func maintenanceURL(rawURL string) (string, string, error) {
	parsed, err := url.Parse(rawURL)
	if err != nil {
		return "", "", fmt.Errorf("PostgreSQL URL: %w", err)
	}
	name := strings.TrimPrefix(parsed.Path, "/")
	if !databaseName.MatchString(name) {
		return "", "", fmt.Errorf("PostgreSQL database name %q: use letters, digits and underscores", name)
	}
	parsed.Path = "/postgres"
	return name, parsed.String(), nil
}

func redactedURL(rawURL string) string {
	parsed, err := url.Parse(rawURL)
	if err != nil {
		return "(invalid URL)"
	}
	return parsed.Redacted()
}

func withMaintenanceConnection(ctx context.Context, rawURL string, work func(*pgx.Conn, string) error) error {
	name, adminURL, err := maintenanceURL(rawURL)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redactedURL(adminURL), err)
	}
	defer conn.Close(context.Background())
	return work(conn, name)
}

// createPostgresDatabase creates the URL's database unless it exists (a development server
// keeps its data from one start to the next). With relaxedCommits, a commit in it returns
// before its WAL record reaches the disk: a crash may lose the last moments of data, never
// corrupt it; meant for test data, which is thrown away anyway.
func createPostgresDatabase(ctx context.Context, rawURL string, relaxedCommits bool) error {
	return withMaintenanceConnection(ctx, rawURL, func(conn *pgx.Conn, name string) error {
		identifier := pgx.Identifier{name}.Sanitize()
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).
			Scan(&exists); err != nil {
			return err
		}
		if !exists {
			_, err := conn.Exec(ctx, "CREATE DATABASE "+identifier)
			var pgError *pgconn.PgError
			if err != nil && !(errors.As(err, &pgError) && pgError.Code == "42P04") { // 42P04: created meanwhile
				return err
			}
		}
		if relaxedCommits {
			_, err := conn.Exec(ctx, "ALTER DATABASE "+identifier+" SET synchronous_commit = off")
			return err
		}
		return nil
	})
}

// dropPostgresDatabase drops the URL's database, ending sessions still connected to it (the
// backends of a server that was just killed may not have noticed yet).
func dropPostgresDatabase(ctx context.Context, rawURL string) error {
	return withMaintenanceConnection(ctx, rawURL, func(conn *pgx.Conn, name string) error {
		_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		return err
	})
}

// dropStaleDatabases removes what runs that were killed left behind: databases named
// <prefix><unix seconds>_... created longer than maxAge ago. One that is still in use is
// refused by PostgreSQL and kept; failures are logged, never fatal.
func dropStaleDatabases(ctx context.Context, rawURL, prefix string, maxAge time.Duration, logger *slog.Logger) {
	err := withMaintenanceConnection(ctx, rawURL, func(conn *pgx.Conn, _ string) error {
		rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, prefix)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, name := range names {
			stamp, _, _ := strings.Cut(strings.TrimPrefix(name, prefix), "_")
			seconds, err := strconv.ParseInt(stamp, 10, 64)
			if err != nil || time.Since(time.Unix(seconds, 0)) < maxAge || !databaseName.MatchString(name) {
				continue
			}
			if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
				logger.Warn("stale database kept", "database", name, "error", err)
			} else {
				logger.Info("stale database dropped", "database", name)
			}
		}
		return nil
	})
	if err != nil {
		logger.Warn("looking for stale databases", "error", err)
	}
}
