// Command ferretdb-embedded serves the MongoDB wire protocol from a SQLite data folder
// (FerretDB), for development and CI machines where MongoDB itself cannot be installed.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (host:port)")
	dataDir := flag.String("data", ".data/ferretdb", "folder for the SQLite data files")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("log level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	absoluteDataDir, err := filepath.Abs(*dataDir)
	if err != nil {
		log.Fatalf("data folder: %v", err)
	}
	if err := os.MkdirAll(absoluteDataDir, 0o755); err != nil {
		log.Fatalf("data folder: %v", err)
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

	server, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: backend},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + absoluteDataDir + "/",
	})
	if err != nil {
		log.Fatalf("start: %v", err)
	}

	// SIGTERM and SIGINT cancel the context; Run then closes the listener and the backend.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	proxy := &serialProxy{backend: backend, logger: logger}
	go proxy.serve(ctx, listener)

	logger.Info("listening", "address", *listen, "data", absoluteDataDir)
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
