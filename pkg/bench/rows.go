package bench

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/experiments/spirals"
	"github.com/gosde/gosde/pkg/latentsde"
	"github.com/gosde/gosde/pkg/nn"
)

// Row is one line of the comparison table.
type Row struct {
	Name    string // short name for `gosde bench --rows`
	Work    string
	Setting string
	Unit    string
	// AnchorName, Anchor: the Python library and its figure in Unit;
	// Target: gosde's goal.
	AnchorName     string
	Anchor, Target float64
	// Run measures the row; nil when gosde lacks a building block, with the
	// reason in Unavailable.
	Run         func(b backends.Backend, o Options) (*Result, error)
	Unavailable string
}

// Rows returns the table's rows in order.
func Rows() []Row {
	sdeSetting := "Euler, Ito diagonal, state 8, drift & diffusion Linear(8,64)-tanh-Linear(64,8), t∈[0,1], dt 1e-3, float32, no gradient"
	return []Row{
		{Name: "sde256", Work: "SDE forward", Setting: sdeSetting + ", batch 256", Unit: "path-steps/s",
			AnchorName: "torchsde", Anchor: 0.56e6, Target: 1.1e6,
			Run: func(b backends.Backend, o Options) (*Result, error) { return SDEForward(b, 256, o) }},
		{Name: "sde4096", Work: "SDE forward", Setting: sdeSetting + ", batch 4096", Unit: "path-steps/s",
			AnchorName: "torchsde", Anchor: 1.57e6, Target: 3.1e6,
			Run: func(b backends.Backend, o Options) (*Result, error) { return SDEForward(b, 4096, o) }},
		{Name: "sde65536", Work: "SDE forward", Setting: sdeSetting + ", batch 65536 (anchor: torchsde at batch 4096, none measured at 65536 on the CPU)", Unit: "path-steps/s",
			AnchorName: "torchsde", Anchor: 1.57e6, Target: 3.1e6,
			Run: func(b backends.Backend, o Options) (*Result, error) { return SDEForward(b, 65536, o) }},
		{Name: "latsde", Work: "latent SDE training step (backprop through solver)", Unit: "it/s",
			Setting:    "torchsde examples/latent_sde.py's model (OU prior, posterior drift MLP 3-200-200-1 tanh), batch 512, Euler dt 1e-2 (200 steps), Laplace likelihood, Adam 1e-2; data 0.5·sin(πt)+0.2 at 10 times on [0, 2], not the example's (that is row latsde-ex)",
			AnchorName: "torchsde", Anchor: 1.97, Target: 4,
			Run: func(b backends.Backend, o Options) (*Result, error) { return LatentSDE(b, adjoint.Direct, o) }},
		{Name: "latsdeadj", Work: "latent SDE training step (adjoint)", Unit: "it/s",
			Setting:    "as latsde, stochastic adjoint (Euler–Maruyama on the additive-noise OU prior, same dt)",
			AnchorName: "torchsde", Anchor: 1.07, Target: 2,
			Run: func(b backends.Backend, o Options) (*Result, error) { return LatentSDE(b, adjoint.Adjoint, o) }},
		{Name: "latode", Work: "latent ODE training step (direct)", Unit: "it/s",
			Setting:    "torchdiffeq examples/latent_ode.py's model (latent 4, ODE MLP 20 hidden, RNN 25 hidden, Dopri5 rtol 1e-7 atol 1e-9); 900 training spirals of 1000 points on [0, 6π], 100 samples (span 1.87), not the example's 1000 spirals of 500 points (that is row latode-ex)",
			AnchorName: "torchdiffeq", Anchor: 7.1, Target: 14,
			Run: func(b backends.Backend, o Options) (*Result, error) { return LatentODE(b, adjoint.Direct, o) }},
		{Name: "latodeadj", Work: "latent ODE training step (adjoint)", Unit: "it/s",
			Setting:    "as latode, adjoint gradients",
			AnchorName: "torchdiffeq", Anchor: 0.80, Target: 1.6,
			Run: func(b backends.Backend, o Options) (*Result, error) { return LatentODE(b, adjoint.Adjoint, o) }},
		{Name: "mnist", Work: "ODE-Net MNIST training (direct)", Unit: "images/s",
			Setting:    "batch 128, Dopri5 tol 1e-3",
			AnchorName: "torchdiffeq", Anchor: 241, Target: 241,
			Run: func(b backends.Backend, o Options) (*Result, error) { return MNISTTrain(b, adjoint.Direct, o) }},
		{Name: "mnistadj", Work: "ODE-Net MNIST training (adjoint)", Unit: "images/s",
			Setting:    "batch 128, Dopri5 tol 1e-3, adjoint",
			AnchorName: "torchdiffeq", Anchor: 172, Target: 172,
			Run: func(b backends.Backend, o Options) (*Result, error) { return MNISTTrain(b, adjoint.Adjoint, o) }},
		{Name: "oukl", Work: "OU KL check", Unit: "s",
			Setting:    "reference OU pair, 4096 paths, Euler–Maruyama dt 1e-3, t∈[0,1], 100 save times, KL path term as an extra state, float32 (torch's default)",
			AnchorName: "torchsde", Anchor: 0.66, Target: 0.2,
			Run: OUKL},
	}
}

// Lookup returns the row with the given name, among Rows and PeerRows.
func Lookup(name string) (Row, bool) {
	for _, r := range append(Rows(), PeerRows()...) {
		if r.Name == name {
			return r, true
		}
	}
	return Row{}, false
}

// Names returns the rows' names.
func Names() []string {
	var n []string
	for _, r := range Rows() {
		n = append(n, r.Name)
	}
	return n
}

// newResult returns a Result for row name filled from its Row.
func newResult(name string, b backends.Backend) *Result {
	r, _ := Lookup(name)
	return &Result{Row: r.Name, Work: r.Work, Setting: r.Setting, Unit: r.Unit, Backend: b.Name(),
		AnchorName: r.AnchorName, Anchor: r.Anchor, Target: r.Target}
}

// SDEMLP returns the drift or diffusion of the SDE rows:
// Linear(8,64)-tanh-Linear(64,8) built with nn.MLP in scope of ctx (tanh is
// nn.Tanh, computed as 2σ(2x) − 1).
func SDEMLP(scope string) diffeq.Func {
	return func(ctx *context.Context, _, z *graph.Node) *graph.Node {
		return nn.MLP(ctx.In(scope), z, []int{64}, z.Shape().Dim(-1), nn.Tanh)
	}
}

// initWeights creates and initialises the variables of the vector fields
// fs in ctx by evaluating them once on a (1, d) float32 state (solvers call
// vector fields with a Reuse context, which does not create variables).
func initWeights(b backends.Backend, ctx *context.Context, d int, fs ...diffeq.Func) error {
	e, err := context.NewExec(b, ctx, func(ctx *context.Context, z *graph.Node) *graph.Node {
		t := graph.ScalarZero(z.Graph(), z.DType())
		out := graph.ReduceAllSum(fs[0](ctx, t, z))
		for _, f := range fs[1:] {
			out = graph.Add(out, graph.ReduceAllSum(f(ctx, t, z)))
		}
		return out
	})
	if err != nil {
		return fmt.Errorf("initialising weights: %w", err)
	}
	defer e.Finalize()
	if _, err := e.Exec(tensors.FromFlatDataAndDimensions(make([]float32, d), 1, d)); err != nil {
		return fmt.Errorf("initialising weights: %w", err)
	}
	return nil
}

// SDEForward measures the SDE rows: Euler–Maruyama on an Ito SDE with
// diagonal noise, state 8, drift and diffusion SDEMLP, from t = 0 to 1 with
// dt 1e-3 (1000 steps), float32, for the given batch, through
// diffeq.SDESolver (or diffeq.ShardedSDESolver with Options.Shards > 1).
// The Brownian increments are drawn inside the timed solve, on the host or
// inside the graph from a counter-based key (diffeq.Options.NoiseInGraph)
// as Options.Noise says. Throughput is
// path-steps/s = batch × 1000 / seconds.
func SDEForward(b backends.Backend, batch int, o Options) (*Result, error) {
	const d, steps = 8, 1000
	if batch < 1 {
		return nil, fmt.Errorf("bench.SDEForward: batch must be ≥ 1, got %d", batch)
	}
	ctx := context.New()
	sde := diffeq.SDE{Drift: SDEMLP("drift"), Diffusion: SDEMLP("diffusion")}
	var inGraph bool
	switch o.Noise {
	case "", "auto":
		inGraph = diffeq.PreferNoiseInGraph(b)
	case "graph":
		inGraph = true
	case "host":
	default:
		return nil, fmt.Errorf("bench.SDEForward: Options.Noise must be auto, host or graph, got %q", o.Noise)
	}
	opts := diffeq.Options{Method: diffeq.EulerMaruyama, Dt: 1.0 / steps, Chunk: o.Chunk, NoiseInGraph: inGraph}
	if err := initWeights(b, ctx, d, sde.Drift, sde.Diffusion); err != nil {
		return nil, fmt.Errorf("bench.SDEForward: %w", err)
	}
	shards := o.shardsFor(b)
	solver, err := diffeq.NewShardedSDESolver(b, ctx, sde, opts, shards)
	if err != nil {
		return nil, fmt.Errorf("bench.SDEForward: %w", err)
	}
	z0v := make([]float32, batch*d)
	for i := range z0v {
		z0v[i] = float32(i%7)/7 - 0.4
	}
	z0 := tensors.FromFlatDataAndDimensions(z0v, batch, d)
	bm, err := diffeq.NewBrownian(1, 0, 1, 1.0/steps, batch, d, dtypes.Float32)
	if err != nil {
		return nil, fmt.Errorf("bench.SDEForward: %w", err)
	}
	ts := []float64{0, 1}
	var nfe int
	m, err := measure(o, float64(batch*steps), func() error {
		sol, err := solver.Solve(z0, ts, bm)
		if err != nil {
			return err
		}
		if sol.Steps != steps {
			return fmt.Errorf("%d steps, want %d", sol.Steps, steps)
		}
		v, err := diffeq.Float64s(sol.Ys[1])
		if err != nil {
			return err
		}
		if err := diffeq.CheckFinite("final state", v); err != nil {
			return err
		}
		nfe = sol.NFE
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench.SDEForward: %w", err)
	}
	r := newResult(fmt.Sprintf("sde%d", batch), b)
	if r.Row == "" {
		r = &Result{Row: fmt.Sprintf("sde%d", batch), Work: "SDE forward", Unit: "path-steps/s", Backend: b.Name()}
	}
	m.fill(r)
	r.NFE = nfe
	chunk := "16 (default)"
	if o.Chunk > 0 {
		chunk = fmt.Sprint(o.Chunk)
	}
	noise := "host"
	if inGraph {
		noise = "in graph"
	}
	r.Note = fmt.Sprintf("%d shard(s), chunk %s, noise %s", min(shards, batch), chunk, noise)
	return r, nil
}

// OUKL measures the OU KL check row: latentsde.OUKLCheck with the reference
// OU pair, 4096 paths, dt 1e-3, float32 (as torchsde by default), from t = 0 to 1. Each run builds its
// solver (compilation included), as a user's call does. Value: seconds.
func OUKL(b backends.Backend, o Options) (*Result, error) { return ouKL(b, o, "oukl", 100) }

// ouKL is OUKL for row name with the given number of save times.
func ouKL(b backends.Backend, o Options, name string, saves int) (*Result, error) {
	cfg := latentsde.OUKLConfig{Pair: latentsde.ReferenceOUPair, Saves: saves, Paths: 4096, Dt: 1e-3, Seed: 1, DType: dtypes.Float32}
	var res *latentsde.OUKLResult
	m, err := measure(o, 0, func() error {
		var err error
		res, err = latentsde.OUKLCheck(b, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bench.OUKL: %w", err)
	}
	r := newResult(name, b)
	m.fill(r)
	r.NFE = res.Steps
	r.Note = fmt.Sprintf("KL %.4g ± %.2g (closed form %.4g, Euler expectation %.4g); NFE = steps",
		res.Logqp, res.LogqpStderr, res.ClosedForm, res.EulerExpected)
	return r, nil
}

// LatentSDE measures a training step of torchsde's examples/latent_sde.py
// setting (latentsde.BenchmarkConfig, batch 512) with the given gradient
// method (adjoint.Direct: backprop through the solver; adjoint.Adjoint: the
// stochastic adjoint), built by latentsde.BenchmarkStep. Value: it/s.
func LatentSDE(b backends.Backend, method adjoint.Method, o Options) (*Result, error) {
	step, err := latentsde.BenchmarkStep(b, method, 512)
	if err != nil {
		return nil, fmt.Errorf("bench.LatentSDE: %w", err)
	}
	m, err := measure(o, 1, step)
	if err != nil {
		return nil, fmt.Errorf("bench.LatentSDE: %w", err)
	}
	name := "latsde"
	if method != adjoint.Direct {
		name = "latsdeadj"
	}
	r := newResult(name, b)
	m.fill(r)
	r.Note = fmt.Sprintf("gradients: %s", method)
	return r, nil
}

// LatentODE measures training steps of torchdiffeq's
// examples/latent_ode.py setting (spirals.BenchConfig) with the given
// gradient method through spirals.BenchStepper, with Options.Shards
// data-parallel shards (default: one per CPU on the pure-Go backend, see
// adjoint.TrainerConfig.Shards): the model is set up once,
// Warmup runs compile the graphs, and each timed run takes
// LatentODEStepsPerRun steps. Value: it/s; NFE: forward + backward
// evaluations of the last step.
func LatentODE(b backends.Backend, method adjoint.Method, o Options) (*Result, error) {
	name := "latode"
	if method != adjoint.Direct {
		name = "latodeadj"
	}
	return latentODE(b, method, o, name, nil)
}

// latentODE is LatentODE for row name, with spirals.BenchConfig changed by
// setting (if not nil).
func latentODE(b backends.Backend, method adjoint.Method, o Options, name string, setting func(*spirals.Config)) (*Result, error) {
	if method == adjoint.Direct && backend.OnAccelerator(b) {
		// The same gradient through fixed-size chunk executables, compiled
		// once, instead of one unrolled graph per Dopri5 plan length, whose
		// compilation takes XLA on a GPU tens of seconds each. On CPUs the
		// unrolled graphs run faster once compiled (XLA CPU: 6.8 against
		// 5.5 it/s).
		method = adjoint.Checkpointed
	}
	cfg := spirals.BenchConfig(method)
	if setting != nil {
		setting(&cfg)
	}
	cfg.Solver.Shards = o.shardsFor(b)
	step, nfeOf, err := spirals.BenchStepper(b, cfg)
	if err != nil {
		return nil, fmt.Errorf("bench.LatentODE: %w", err)
	}
	m, err := measure(o, LatentODEStepsPerRun, func() error {
		for range LatentODEStepsPerRun {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench.LatentODE: %w", err)
	}
	r := newResult(name, b)
	m.fill(r)
	nfe := nfeOf()
	r.NFE = nfe.Forward + nfe.Backward
	r.Note = fmt.Sprintf("gradients: %s; NFE forward %d, backward %d (last step, largest over %d shard(s)); %d steps per timed run",
		method, nfe.Forward, nfe.Backward, max(cfg.Solver.Shards, 1), LatentODEStepsPerRun)
	return r, nil
}

// LatentODEStepsPerRun is the number of training steps in each timed run of
// the latent ODE rows.
const LatentODEStepsPerRun = 5

// Select returns the rows named in a comma-separated list ("" or "all":
// every row).
func Select(list string) ([]Row, error) {
	if list == "" || list == "all" {
		return Rows(), nil
	}
	var rows []Row
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		r, ok := Lookup(n)
		if !ok {
			return nil, fmt.Errorf("bench: unknown row %q (rows: %s)", n, strings.Join(Names(), ", "))
		}
		rows = append(rows, r)
	}
	return rows, nil
}
