package spirals

import (
	"fmt"

	"github.com/gosde/gosde/internal/checkpoint"
)

// Kind is the model kind recorded in the spirals latent ODE's checkpoints.
const Kind = "latentode-spirals"

// identity returns the checkpoint identity of the learner's model: Kind
// and the model's configuration.
func (l *Learner) identity() (checkpoint.Identity, error) {
	return checkpoint.NewIdentity(Kind, l.Model.cfg)
}

// record appends a step's loss to the learner's history.
func (l *Learner) record(loss float64) {
	if len(l.history.Columns) == 0 {
		l.history = checkpoint.NewHistory("loss")
	}
	// Steps only grow, so Append cannot fail here; a history restored by
	// Load ends at l.steps-1 at the latest.
	_ = l.history.Append(l.steps, loss)
}

// History returns the losses of the steps taken (including those restored
// by Load), by step.
func (l *Learner) History() checkpoint.History { return l.history.Clone() }

// Save writes the learner's state to path in gosde's checkpoint format
// (internal/checkpoint), atomically: the model kind and configuration, the
// step count, every context variable (weights, Adam's moments and step) and
// the loss history.
func (l *Learner) Save(path string) error {
	id, err := l.identity()
	if err != nil {
		return fmt.Errorf("spirals.Save: %w", err)
	}
	ck, err := checkpoint.Snapshot(l.ctx, id, l.steps, l.history)
	if err != nil {
		return fmt.Errorf("spirals.Save: %w", err)
	}
	if err := checkpoint.Write(path, ck); err != nil {
		return fmt.Errorf("spirals.Save: %w", err)
	}
	return nil
}

// Load restores a checkpoint written by Save into the learner. A file that
// is damaged, or holds another kind of model or a model of another
// configuration, is refused with an error naming both; then the learner
// is unchanged.
func (l *Learner) Load(path string) error {
	id, err := l.identity()
	if err != nil {
		return fmt.Errorf("spirals.Load: %w", err)
	}
	ck, err := checkpoint.Load(path, id)
	if err != nil {
		return fmt.Errorf("spirals.Load: %w", err)
	}
	if err := ck.Restore(l.ctx); err != nil {
		return fmt.Errorf("spirals.Load: %s: %w", path, err)
	}
	l.steps, l.history = ck.Step, ck.History
	return nil
}
