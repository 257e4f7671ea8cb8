package odenet

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/nn"
)

// Architecture constants of the reference model.
const (
	Channels   = 64 // feature maps after the stem
	Groups     = 32 // group-norm groups (min(32, channels))
	Side       = 6  // spatial size after the stem (28 → 26 → 13 → 6)
	StateDim   = Channels * Side * Side
	NumClasses = 10
	ResBlocks  = 6 // residual blocks of the ResNet
)

// Model names.
const (
	ODENet = "odenet"
	ResNet = "resnet"
)

// Config describes a classifier.
type Config struct {
	// Model is ODENet or ResNet.
	Model string
	// Method is the ODE block's solver (diffeq.Euler, Midpoint, RK4 or Dopri5,
	// the last as a fixed-step fifth-order method); ignored by the ResNet.
	Method diffeq.Method
	// Steps is the number of equal solver steps over [0, 1] (≥ 1).
	Steps int
}

// DefaultConfig is the ODE-Net solved with 2 RK4 steps.
func DefaultConfig() Config { return Config{Model: ODENet, Method: diffeq.RK4, Steps: 2} }

// Validate returns an error naming the first invalid field.
func (c Config) Validate() error {
	switch c.Model {
	case ODENet:
		switch c.Method {
		case diffeq.Euler, diffeq.Midpoint, diffeq.RK4, diffeq.Dopri5:
		default:
			return fmt.Errorf("odenet: solver %q not supported (want euler, midpoint, rk4 or dopri5)", c.Method)
		}
		if c.Steps < 1 {
			return fmt.Errorf("odenet: steps must be ≥ 1, got %d", c.Steps)
		}
	case ResNet:
	default:
		return fmt.Errorf("odenet: model %q not supported (want %s or %s)", c.Model, ODENet, ResNet)
	}
	return nil
}

// NFE returns the number of evaluations of the ODE block's dynamics per
// forward pass (0 for the ResNet).
func (c Config) NFE() int {
	if c.Model != ODENet {
		return 0
	}
	return c.Steps * c.Method.NFEPerStep()
}

// String describes the configuration, e.g. "odenet (rk4, 2 steps)".
func (c Config) String() string {
	if c.Model == ODENet {
		return fmt.Sprintf("%s (%s, %d steps, %d evaluations)", c.Model, c.Method, c.Steps, c.NFE())
	}
	return fmt.Sprintf("%s (%d residual blocks)", c.Model, ResBlocks)
}

// Logits returns the class scores (batch, 10) for images shaped
// (batch, 28, 28, 1), already normalised (see Normalize). Variables live in
// ctx, which must not be in Reuse mode for the first call.
func Logits(ctx *context.Context, cfg Config, images *graph.Node) *graph.Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	d := images.Shape().Dimensions
	if images.Rank() != 4 || d[1] != 28 || d[2] != 28 || d[3] != 1 {
		panic(fmt.Errorf("odenet.Logits: images must be (batch, 28, 28, 1), got shape %s", images.Shape()))
	}
	x := Downsample(ctx.In("downsample"), images)
	if cfg.Model == ODENet {
		x = ODEBlock(ctx.In("odeblock"), cfg, x)
	} else {
		for i := 0; i < ResBlocks; i++ {
			x = ResBlock(ctx.Inf("resblock_%d", i), x)
		}
	}
	return Head(ctx.In("head"), x)
}

// relu is max(x, 0) (nn.RectifiedLinear: its gradient is one product).
func relu(x *graph.Node) *graph.Node { return nn.RectifiedLinear(x) }

// Downsample is the stem: conv 3×3 without padding (1 → 64), norm, ReLU, conv 4×4 stride 2,
// norm, ReLU, conv 4×4 stride 2; (batch, 28, 28, 1) → (batch, 6, 6, 64).
func Downsample(ctx *context.Context, x *graph.Node) *graph.Node {
	x = nn.Conv2D(ctx.In("conv1"), x, Channels, 3, 1, 0, true)
	x = relu(nn.GroupNorm(ctx.In("norm1"), x, Groups))
	x = nn.Conv2D(ctx.In("conv2"), x, Channels, 4, 2, 1, true)
	x = relu(nn.GroupNorm(ctx.In("norm2"), x, Groups))
	return nn.Conv2D(ctx.In("conv3"), x, Channels, 4, 2, 1, true)
}

// Dynamics is the ODE block's vector field as a diffeq.Func on flattened
// states z (batch, 64·6·6): norm, ReLU, time-concatenated conv 3×3, norm,
// ReLU, time-concatenated conv 3×3, norm. Its variables are created on the
// first call; ctx may be unchecked or in Reuse mode afterwards.
func Dynamics(ctx *context.Context, t, z *graph.Node) *graph.Node {
	if z.Rank() != 2 || z.Shape().Dimensions[1] != StateDim {
		panic(fmt.Errorf("odenet.Dynamics: z must be (batch, %d), got shape %s", StateDim, z.Shape()))
	}
	b := z.Shape().Dimensions[0]
	x := graph.Reshape(z, b, Side, Side, Channels)
	x = relu(nn.GroupNorm(ctx.In("norm1"), x, Groups))
	x = nn.ConcatConv2D(ctx.In("conv1"), t, x, Channels, 3, 1, 1, true)
	x = relu(nn.GroupNorm(ctx.In("norm2"), x, Groups))
	x = nn.ConcatConv2D(ctx.In("conv2"), t, x, Channels, 3, 1, 1, true)
	x = nn.GroupNorm(ctx.In("norm3"), x, Groups)
	return graph.Reshape(x, b, StateDim)
}

// ODEBlock solves dz/dt = Dynamics(t, z) from z(0) = x over [0, 1] with
// cfg.Steps steps of cfg.Method, unrolled in the graph so that autodiff
// differentiates through the solver, and returns z(1) shaped like x.
func ODEBlock(ctx *context.Context, cfg Config, x *graph.Node) *graph.Node {
	b := x.Shape().Dimensions[0]
	z0 := graph.Reshape(x, b, StateDim)
	f := func(ctx *context.Context, t, z *graph.Node) *graph.Node { return Dynamics(ctx, t, z) }
	zs, err := diffeq.IntegrateConst(ctx.In("dynamics").Checked(false), cfg.Method, f, z0, []float64{0, 1}, 1/float64(cfg.Steps))
	if err != nil {
		panic(fmt.Errorf("odenet.ODEBlock: %w", err))
	}
	return graph.Reshape(zs[len(zs)-1], x.Shape().Dimensions...)
}

// ResBlock is the reference residual block: x + conv(relu(norm(conv(relu(norm(x)))))),
// with 3×3 convolutions without bias.
func ResBlock(ctx *context.Context, x *graph.Node) *graph.Node {
	y := relu(nn.GroupNorm(ctx.In("norm1"), x, Groups))
	y = nn.Conv2D(ctx.In("conv1"), y, Channels, 3, 1, 1, false)
	y = relu(nn.GroupNorm(ctx.In("norm2"), y, Groups))
	y = nn.Conv2D(ctx.In("conv2"), y, Channels, 3, 1, 1, false)
	return graph.Add(x, y)
}

// Head is norm, ReLU, global average pooling and a linear layer to 10 classes.
func Head(ctx *context.Context, x *graph.Node) *graph.Node {
	x = relu(nn.GroupNorm(ctx.In("norm"), x, Groups))
	x = graph.ReduceMean(x, 1, 2) // (batch, 64)
	bound := 1 / 8.0              // 1/√64, PyTorch's default for Linear
	init := initializers.RandomUniformFn(ctx, -bound, bound)
	lin := ctx.In("linear").WithInitializer(init)
	w := lin.VariableWithShape("weights", shapes.Make(x.DType(), Channels, NumClasses)).ValueGraph(x.Graph())
	b := lin.VariableWithShape("biases", shapes.Make(x.DType(), NumClasses)).ValueGraph(x.Graph())
	return graph.Add(graph.Dot(x, w), graph.Reshape(b, 1, NumClasses))
}

// ParseModel accepts "odenet"/"ode-net"/"ode" and "resnet"/"res-net"/"res".
func ParseModel(s string) (string, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "-", "")) {
	case "odenet", "ode":
		return ODENet, nil
	case "resnet", "res":
		return ResNet, nil
	}
	return "", fmt.Errorf("odenet: unknown model %q (want odenet or resnet)", s)
}
