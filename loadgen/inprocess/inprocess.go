package inprocess

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/silverback-tsdb/tsdb/loadgen"
	"github.com/silverback-tsdb/tsdb/pipeline"
)

// Target appends loadgen payloads to a pipeline.DB.
type Target struct {
	db     *pipeline.DB
	owned  bool   // Close closes db
	tmpDir string // removed by Close when Open made it
}

// New returns a target appending to db, which the caller keeps and closes.
func New(db *pipeline.DB) *Target { return &Target{db: db} }

// Open opens (or creates) a database in dir, or in a new temporary
// directory when dir is "", and returns a target that closes it (and
// removes the temporary directory) on Close.
func Open(dir string, o pipeline.Options) (*Target, error) {
	t := &Target{owned: true}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "tsdb-loadgen-")
		if err != nil {
			return nil, fmt.Errorf("inprocess: temporary data dir: %w", err)
		}
		dir, t.tmpDir = tmp, tmp
	}
	db, err := pipeline.Open(dir, o)
	if err != nil {
		if t.tmpDir != "" {
			err = errors.Join(err, os.RemoveAll(t.tmpDir))
		}
		return nil, err
	}
	t.db = db
	return t, nil
}

// DB returns the database.
func (t *Target) DB() *pipeline.DB { return t.db }

// RejectedError reports samples of a request the database did not store.
type RejectedError struct {
	Rejected int
	First    string // the first rejected sample's detail
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("inprocess: %d samples rejected, first: %s", e.Rejected, e.First)
}

// Send appends p.Batch.
func (t *Target) Send(ctx context.Context, p *loadgen.Payload) error {
	if p.Batch == nil {
		return fmt.Errorf("inprocess: payload of protocol %q has no batch (use protocol inprocess)", p.Protocol)
	}
	st, err := t.db.Append(ctx, p.Batch)
	if err != nil {
		return fmt.Errorf("inprocess: append: %w", err)
	}
	if n := st.Rejected(); n > 0 {
		return &RejectedError{Rejected: n, First: st.FirstErrText}
	}
	return nil
}

// InboxDepth reports the messages queued in all shard inboxes.
func (t *Target) InboxDepth(context.Context) (float64, bool) {
	sum := 0
	for _, n := range t.db.InboxDepths(nil) {
		sum += n
	}
	return float64(sum), true
}

// Close closes the database if Open opened it, and removes its temporary
// directory. It is a no-op for a target made by New.
func (t *Target) Close() error {
	if !t.owned {
		return nil
	}
	err := t.db.Close()
	if t.tmpDir != "" {
		err = errors.Join(err, os.RemoveAll(t.tmpDir))
	}
	return err
}
