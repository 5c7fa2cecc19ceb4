// Command ferretdb-embedded serves the MongoDB wire protocol (FerretDB) from PostgreSQL or from
// a SQLite data folder, for development and CI machines where MongoDB itself cannot be installed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (host:port)")
	dataDir := flag.String("data", ".data/ferretdb", "folder for the SQLite data files (SQLite backend)")
	postgresqlURL := flag.String("postgresql-url", "",
		"PostgreSQL backend: connection URL of the database to keep the data in (else SQLite)")
	createDatabase := flag.Bool("create-database", false,
		"PostgreSQL backend: create the URL's database first when it does not exist")
	dropDatabase := flag.Bool("drop-database", false,
		"drop the -postgresql-url database (ending its sessions) and exit, serving nothing")
	relaxedCommits := flag.Bool("relaxed-commits", false,
		"with -create-database: commits of the new database do not wait for the disk (synchronous_commit off; for throwaway test data)")
	dropStalePrefix := flag.String("drop-stale-databases", "",
		"with -create-database: first drop idle databases named <prefix><unix seconds>_... older than six hours")
	serialize := flag.String("serialize", "writes",
		"which commands take the one-at-a-time turn: all, or writes (read-only commands run beside them)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("log level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *serialize != "all" && *serialize != "writes" {
		log.Fatalf("-serialize must be all or writes, not %q", *serialize)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if *dropDatabase {
		if *postgresqlURL == "" {
			log.Fatal("-drop-database needs -postgresql-url")
		}
		dropCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := dropPostgresDatabase(dropCtx, *postgresqlURL); err != nil {
			log.Fatalf("drop database: %v", err)
		}
		return
	}

	config := &ferretdb.Config{Logger: logger}
	description := ""
	if *postgresqlURL != "" {
		if *createDatabase {
			setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if *dropStalePrefix != "" {
				dropStaleDatabases(setupCtx, *postgresqlURL, *dropStalePrefix, 6*time.Hour, logger)
			}
			err := createPostgresDatabase(setupCtx, *postgresqlURL, *relaxedCommits)
			cancel()
			if err != nil {
				log.Fatalf("create database: %v", err)
			}
		}
		indexCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := installLookupIndexes(indexCtx, *postgresqlURL); err != nil {
			logger.Warn("lookups by indexed fields will scan their collection (see lookup_indexes.go)", "error", err)
		}
		cancel()
		config.Handler = "postgresql"
		config.PostgreSQLURL = *postgresqlURL
		description = "postgresql " + redactedURL(*postgresqlURL)
	} else {
		absoluteDataDir, err := filepath.Abs(*dataDir)
		if err != nil {
			log.Fatalf("data folder: %v", err)
		}
		if err := os.MkdirAll(absoluteDataDir, 0o755); err != nil {
			log.Fatalf("data folder: %v", err)
		}
		config.Handler = "sqlite"
		config.SQLiteURL = "file:" + absoluteDataDir + "/"
		description = "sqlite " + absoluteDataDir
	}

	// FerretDB itself listens on a private loopback port; clients reach it through the
	// serializing proxy on the requested address (see serial_proxy.go).
	backend, err := freeLoopbackAddress()
	if err != nil {
		log.Fatalf("backend port: %v", err)
	}
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	config.Listener = ferretdb.ListenerConfig{TCP: backend}

	server, err := ferretdb.New(config)
	if err != nil {
		log.Fatalf("start: %v", err)
	}

	proxy := &serialProxy{backend: backend, logger: logger, readsBesideWrites: *serialize == "writes"}
	go proxy.serve(ctx, listener)

	logger.Info("listening", "address", *listen, "backend", description, "serialize", *serialize)
	// SIGTERM and SIGINT cancel the context; Run then closes the listener and the backend.
	if err := server.Run(ctx); err != nil {
		log.Fatalf("run: %v", err)
	}
}

func freeLoopbackAddress() (string, error) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer probe.Close()
	return probe.Addr().String(), nil
}

func init() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(),
			"Usage: %s [flags]\nServes the MongoDB wire protocol on -listen, from PostgreSQL (-postgresql-url) or SQLite (-data).\n",
			os.Args[0])
		flag.PrintDefaults()
	}
}
