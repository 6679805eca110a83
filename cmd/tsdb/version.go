package main

import (
	"runtime"
	"runtime/debug"

	"github.com/silverback-tsdb/tsdb/httpfast"
)

// Set by the release build (Makefile) with
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=abc123 -X main.buildDate=2026-12-03T07:50:00Z"
//
// An unstamped build falls back to what the Go toolchain recorded (module
// version, vcs.revision, vcs.time).
var (
	version   string
	commit    string
	buildDate string
)

// buildInfo is the build's identity as /api/v1/status/buildinfo reports it.
func buildInfo() httpfast.BuildInfo {
	bi := httpfast.BuildInfo{Version: version, Revision: commit, BuildDate: buildDate, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if bi.Version == "" && info.Main.Version != "" {
			bi.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && bi.Revision == "":
				bi.Revision = s.Value
			case s.Key == "vcs.time" && bi.BuildDate == "":
				bi.BuildDate = s.Value
			}
		}
	}
	if bi.Version == "" {
		bi.Version = "(devel)"
	}
	return bi
}

// versionString is what `tsdb --version` prints after "tsdb version ".
func versionString() string {
	bi := buildInfo()
	s := bi.Version
	if bi.Revision != "" {
		s += " (commit " + bi.Revision + ")"
	}
	if bi.BuildDate != "" {
		s += " built " + bi.BuildDate
	}
	return s + " " + bi.GoVersion
}
