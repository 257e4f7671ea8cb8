// Package stats holds the sample statistics that gosde's statistical tests
// share.
package stats

// MeanVar returns the sample mean of xs and its unbiased sample variance
// (divided by n − 1); xs must hold at least two values.
func MeanVar(xs []float64) (mean, variance float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(xs)-1)
}
