package latentsde

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// GaussianKL returns KL(N(qMean, e^{qLogVar}) ‖ N(pMean, e^{pLogVar})) for
// diagonal Gaussians, summed over every axis but the first (the batch):
//
//	KL = ½ Σ_i [ pLogVar − qLogVar + (e^{qLogVar} + (qMean − pMean)²)/e^{pLogVar} − 1 ]
//
// All arguments broadcast to qMean's shape (batch, …) (numpy rules); the
// result is (batch,).
func GaussianKL(qMean, qLogVar, pMean, pLogVar *Node) *Node {
	shape := qMean.Shape()
	qLogVar = broadcastTo(qLogVar, shape)
	pMean = broadcastTo(pMean, shape)
	pLogVar = broadcastTo(pLogVar, shape)
	diff := graph.Sub(qMean, pMean)
	ratio := graph.Mul(graph.Add(graph.Exp(qLogVar), graph.Square(diff)), graph.Exp(graph.Neg(pLogVar)))
	kl := graph.Add(graph.Sub(pLogVar, qLogVar), graph.AddScalar(ratio, -1))
	return graph.MulScalar(sumNonBatch(kl), 0.5)
}

// StandardNormalKL is GaussianKL against N(0, 1).
func StandardNormalKL(qMean, qLogVar *Node) *Node {
	zero := graph.ZerosLike(qMean)
	return GaussianKL(qMean, qLogVar, zero, zero)
}

// sumNonBatch sums x over every axis but the first; a rank-1 x is returned as is.
func sumNonBatch(x *Node) *Node {
	if x.Rank() <= 1 {
		return x
	}
	axes := make([]int, x.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	return graph.ReduceSum(x, axes...)
}

// masked multiplies per-element log-likelihoods by mask (1: observed, 0:
// missing; nil: all observed) and sums over every axis but the first. A
// missing entry contributes exactly 0 even when its data value is NaN-free
// garbage; use 0 for missing data values.
func masked(ll, mask *Node) *Node {
	if mask != nil {
		ll = graph.Mul(ll, broadcastTo(graph.ConvertDType(mask, ll.DType()), ll.Shape()))
	}
	return sumNonBatch(ll)
}

// GaussianLogLikelihood returns Σ mask·log N(x; mean, std²) over every axis
// but the first (batch), shape (batch,):
//
//	log N(x; μ, s²) = −½((x − μ)/s)² − log s − ½ log 2π.
//
// std broadcasts to x (a scalar for a known noise level, or per element);
// mask is 1 where x is observed and 0 where not (nil: all observed). Masks
// express irregular and per-sample observation times on a common grid.
func GaussianLogLikelihood(x, mean, std, mask *Node) *Node {
	std = broadcastTo(graph.ConvertDType(std, x.DType()), x.Shape())
	z := graph.Div(graph.Sub(x, mean), std)
	ll := graph.Sub(graph.MulScalar(graph.Square(z), -0.5), graph.AddScalar(graph.Log(std), 0.5*math.Log(2*math.Pi)))
	return masked(ll, mask)
}

// LaplaceLogLikelihood returns Σ mask·log Laplace(x; loc, scale) over every
// axis but the first (batch), shape (batch,):
//
//	log Laplace(x; μ, b) = −|x − μ|/b − log(2b).
//
// scale and mask are as in GaussianLogLikelihood.
func LaplaceLogLikelihood(x, loc, scale, mask *Node) *Node {
	scale = broadcastTo(graph.ConvertDType(scale, x.DType()), x.Shape())
	ll := graph.Neg(graph.Add(graph.Div(graph.Abs(graph.Sub(x, loc)), scale), graph.Log(graph.MulScalar(scale, 2))))
	return masked(ll, mask)
}

// Likelihood names an observation model.
type Likelihood string

// Observation models.
const (
	Gaussian Likelihood = "gaussian"
	Laplace  Likelihood = "laplace"
)

// LogLikelihood dispatches to GaussianLogLikelihood (scale = std) or
// LaplaceLogLikelihood (scale = b).
func (l Likelihood) LogLikelihood(x, pred, scale, mask *Node) (*Node, error) {
	switch l {
	case Gaussian, "":
		return GaussianLogLikelihood(x, pred, scale, mask), nil
	case Laplace:
		return LaplaceLogLikelihood(x, pred, scale, mask), nil
	}
	return nil, fmt.Errorf("latentsde: unknown likelihood %q (gaussian, laplace)", l)
}

// ELBOTerms holds the per-batch-mean terms of an ELBO.
type ELBOTerms struct {
	LogLik *Node // mean over the batch of the log-likelihood
	KL     *Node // mean over the batch of the KL
	// Loss is −(LogLik − w·KL): the negative weighted ELBO, to minimise.
	Loss *Node
}

// ELBO combines per-sample log-likelihoods (batch,) and KLs (batch,) with the
// KL weight w (a scalar node, from a KLSchedule): ELBO_w = mean(logLik) −
// w·mean(KL); the true ELBO is ELBO_1.
func ELBO(logLik, kl, w *Node) ELBOTerms {
	ll := graph.ReduceAllMean(logLik)
	k := graph.ReduceAllMean(kl)
	w = graph.ConvertDType(w, ll.DType())
	return ELBOTerms{LogLik: ll, KL: k, Loss: graph.Neg(graph.Sub(ll, graph.Mul(w, k)))}
}

// KLSchedule gives the KL weight at a training step (0-based).
type KLSchedule interface {
	Weight(step int) float64
}

// ConstantKL is a constant KL weight.
type ConstantKL float64

// Weight implements KLSchedule.
func (c ConstantKL) Weight(int) float64 { return float64(c) }

// LinearWarmup raises the weight linearly from Start to Max over Steps steps
// (weight(s) = Start + (Max − Start)·min(1, s/Steps)), then keeps Max.
// torchsde's latent SDE example uses Start = 0, Max = 1, Steps = 100.
type LinearWarmup struct {
	Start, Max float64
	Steps      int
}

// Weight implements KLSchedule.
func (l LinearWarmup) Weight(step int) float64 {
	if l.Steps <= 0 || step >= l.Steps {
		return l.Max
	}
	return l.Start + (l.Max-l.Start)*float64(max(step, 0))/float64(l.Steps)
}

// Cyclical is the cyclical annealing of Fu et al. (2019): training is split
// into Cycles cycles of Period steps; within each, the weight rises linearly
// from 0 to Max over the first Ratio fraction of the cycle and stays at Max
// for the rest. After Cycles cycles (Cycles > 0) the weight stays at Max.
// Fu et al. use Cycles = 4, Ratio = 0.5.
type Cyclical struct {
	Period, Cycles int
	Ratio, Max     float64
}

// Weight implements KLSchedule.
func (c Cyclical) Weight(step int) float64 {
	if c.Period <= 0 || (c.Cycles > 0 && step >= c.Period*c.Cycles) || c.Ratio <= 0 {
		return c.Max
	}
	tau := float64(max(step, 0)%c.Period) / float64(c.Period)
	if tau >= c.Ratio {
		return c.Max
	}
	return c.Max * tau / c.Ratio
}

// ParseKLSchedule parses "constant:W", "linear:STEPS[:MAX]" or
// "cyclical:PERIOD:CYCLES[:RATIO[:MAX]]" (defaults MAX 1, RATIO 0.5).
func ParseKLSchedule(s string) (KLSchedule, error) {
	bad := fmt.Errorf("latentsde: bad KL schedule %q (constant:W, linear:STEPS[:MAX], cyclical:PERIOD:CYCLES[:RATIO[:MAX]])", s)
	parts := strings.Split(s, ":")
	nums := make([]float64, len(parts)-1)
	for i, p := range parts[1:] {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, bad
		}
		nums[i] = v
	}
	opt := func(i int, def float64) float64 {
		if i < len(nums) {
			return nums[i]
		}
		return def
	}
	switch {
	case parts[0] == "constant" && len(nums) == 1:
		return ConstantKL(nums[0]), nil
	case parts[0] == "linear" && (len(nums) == 1 || len(nums) == 2):
		return LinearWarmup{Max: opt(1, 1), Steps: int(nums[0])}, nil
	case parts[0] == "cyclical" && len(nums) >= 2 && len(nums) <= 4:
		return Cyclical{Period: int(nums[0]), Cycles: int(nums[1]), Ratio: opt(2, 0.5), Max: opt(3, 1)}, nil
	}
	return nil, bad
}
