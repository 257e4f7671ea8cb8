package diffeq

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// erkTableau is an explicit Runge–Kutta pair with an embedded error estimate.
type erkTableau struct {
	c []float64   // nodes, one per stage
	a [][]float64 // a[i]: the coefficients of stage i on stages 0 … i−1
	b []float64   // weights of the solution
	// e are the error weights b − b̂ over the stages (and, for a method whose
	// last stage is not first-same-as-last, over f(t+h, zNext) appended).
	e []float64
	// e3 (Dopri8 only): the weights of the third-order estimate, combined
	// with e as in Hairer's DOP853.
	e3 []float64
	// fsal: the last stage is evaluated at the solution (a[s−1] = b, c = 1),
	// so it is the next step's first stage. Otherwise the step evaluates
	// f(t+h, zNext) once more.
	fsal bool
	// errOrder is the order of the error estimate q: the controller scales
	// the step by ratio^(−1/(q+1)).
	errOrder int
}

// Tsitouras (2011), "Runge–Kutta pairs of order 5(4) satisfying only the
// first column simplifying assumption", Comput. Math. Appl. 62, 770–775.
var tsit5Tableau = func() *erkTableau {
	b := []float64{
		0.09646076681806522951816731316512876333711995238157997181903319145764851595234062815396,
		0.01,
		0.4798896504144995747752495322905965199130404621990332488332634944254542060153074523509,
		1.379008574103741893192274821856872770756462643091360525934940067397245698027561293331,
		-3.290069515436080679901047585711363850115683290894936158531296799594813811049925401677,
		2.324710524099773982415355918398765796109060233222962411944060046314465391054716027841,
		0,
	}
	bHat := []float64{
		0.09468075576583945807478876255758922856117527357724631226139574065785592789071067303271,
		0.009183565540343253096776363936645313759813746240984095238905939532922955247253608687270,
		0.4877705284247615707855642599631228241516691959761363774365216240304071651579571959813,
		1.234297566930478985655109673884237654035539930748192848315425833500484878378061439761,
		-2.707712349983525454881109975059321670689605166938197378763992255714444407154902012702,
		1.866628418170587035753719399566211498666255505244122593996591602841258328965767580089,
		1.0 / 66,
	}
	e := make([]float64, len(b))
	for i := range b {
		e[i] = b[i] - bHat[i]
	}
	return &erkTableau{
		c: []float64{0, 0.161, 0.327, 0.9, 0.9800255409045096857298102862870245954942137979563024768854764293221195950761080302604, 1, 1},
		a: [][]float64{
			{},
			{0.161},
			{-0.008480655492356988544426874250230774675121177393430391537369234245294192976164141156943,
				0.3354806554923569885444268742502307746751211773934303915373692342452941929761641411569},
			{2.897153057105493432130432594192938764924887287701866490314866693455023795137503079289,
				-6.359448489975074843148159912383825625952700647415626703305928850207288721235210244366,
				4.362295432869581411017727318190886861027813359713760212991062156752264926097707165077},
			{5.325864828439256604428877920840511317836476253097040101202360397727981648835607691791,
				-11.74888356406282787774717033978577296188744178259862899288666928009020615663593781589,
				7.495539342889836208304604784564358155658679161518186721010132816213648793440552049753,
				-0.09249506636175524925650207933207191611349983406029535244034750452930469056411389539635},
			{5.861455442946420028659251486982647890394337666164814434818157239052507339770711679748,
				-12.92096931784710929170611868178335939541780751955743459166312250439928519268343184452,
				8.159367898576158643180400794539253485181918321135053305748355423955009222648673734986,
				-0.07158497328140099722453054252582973869127213147363544882721139659546372402303777878835,
				-0.02826905039406838290900305721271224146717633626879770007617876201276764571291579142206},
			b[:6],
		},
		b: b, e: e, fsal: true, errOrder: 4,
	}
}()

// tsit5DenseWeights returns the weights bᵢ(θ) of Tsitouras' continuous
// extension: y(t+θh) = y0 + h·Σ bᵢ(θ)·kᵢ (bᵢ(1) = bᵢ).
func tsit5DenseWeights(x float64) [7]float64 {
	x2 := x * x
	return [7]float64{
		-1.0530884977290216 * x * (x - 1.3299890189751412) * (x2 - 1.4364028541716351*x + 0.7139816917074209),
		0.1017 * x2 * (x2 - 2.1966568338249754*x + 1.2949852507374631),
		2.490627285651252793 * x2 * (x2 - 2.38535645472061657*x + 1.57803468208092486),
		-16.54810288924490272 * (x - 1.21712927295533244) * (x - 0.61620406037800089) * x2,
		47.37952196281928122 * (x - 1.203071208372362603) * (x - 0.658047292653547382) * x2,
		-34.87065786149660974 * (x - 1.2) * (x - 0.666666666666666667) * x2,
		2.5 * (x - 1) * (x - 0.6) * x2,
	}
}

// Bogacki & Shampine (1989), "A 3(2) pair of Runge–Kutta formulas", Appl.
// Math. Lett. 2, 321–325.
var bosh3Tableau = &erkTableau{
	c: []float64{0, 0.5, 0.75, 1},
	a: [][]float64{{}, {0.5}, {0, 0.75}, {2.0 / 9, 1.0 / 3, 4.0 / 9}},
	b: []float64{2.0 / 9, 1.0 / 3, 4.0 / 9, 0},
	// b̂ = (7/24, 1/4, 1/3, 1/8).
	e:    []float64{2.0/9 - 7.0/24, 1.0/3 - 1.0/4, 4.0/9 - 1.0/3, -1.0 / 8},
	fsal: true, errOrder: 2,
}

// Dormand & Prince's 8(5,3) pair as published by Hairer, Nørsett & Wanner
// (Solving ODEs I, 2nd ed., II.10; the code DOP853): 12 stages, an
// eighth-order solution, fifth- and third-order error estimates, and
// (dop853Extra, dop853D) a seventh-order continuous extension that costs
// three more evaluations of f.
var dopri8Tableau = func() *erkTableau {
	row := func(n int, kv map[int]float64) []float64 { // logical stage numbers 1…
		r := make([]float64, n)
		for k, v := range kv {
			r[k-1] = v
		}
		return r
	}
	b := row(12, map[int]float64{
		1: 5.42937341165687622380535766363e-2, 6: 4.45031289275240888144113950566e0,
		7: 1.89151789931450038304281599044e0, 8: -5.8012039600105847814672114227e0,
		9: 3.1116436695781989440891606237e-1, 10: -1.52160949662516078556178806805e-1,
		11: 2.01365400804030348374776537501e-1, 12: 4.47106157277725905176885569043e-2,
	})
	bhh := row(12, map[int]float64{
		1: 0.244094488188976377952755905512e+00, 9: 0.733846688281611857341361741547e+00,
		12: 0.220588235294117647058823529412e-01,
	})
	e3 := make([]float64, 12)
	for i := range e3 {
		e3[i] = b[i] - bhh[i]
	}
	return &erkTableau{
		c: []float64{0, 0.526001519587677318785587544488e-01, 0.789002279381515978178381316732e-01,
			0.118350341907227396726757197510e+00, 0.281649658092772603273242802490e+00, 1.0 / 3, 0.25,
			4.0 / 13, 127.0 / 195, 0.6, 6.0 / 7, 1},
		a: [][]float64{
			{},
			row(1, map[int]float64{1: 5.26001519587677318785587544488e-2}),
			row(2, map[int]float64{1: 1.97250569845378994544595329183e-2, 2: 5.91751709536136983633785987549e-2}),
			row(3, map[int]float64{1: 2.95875854768068491816892993775e-2, 3: 8.87627564304205475450678981324e-2}),
			row(4, map[int]float64{1: 2.41365134159266685502369798665e-1, 3: -8.84549479328286085344864962717e-1,
				4: 9.24834003261792003115737966543e-1}),
			row(5, map[int]float64{1: 3.7037037037037037037037037037e-2, 4: 1.70828608729473871279604482173e-1,
				5: 1.25467687566822425016691814123e-1}),
			row(6, map[int]float64{1: 3.7109375e-2, 4: 1.70252211019544039314978060272e-1,
				5: 6.02165389804559606850219397283e-2, 6: -1.7578125e-2}),
			row(7, map[int]float64{1: 3.70920001185047927108779319836e-2, 4: 1.70383925712239993810214054705e-1,
				5: 1.07262030446373284651809199168e-1, 6: -1.53194377486244017527936158236e-2,
				7: 8.27378916381402288758473766002e-3}),
			row(8, map[int]float64{1: 6.24110958716075717114429577812e-1, 4: -3.36089262944694129406857109825e0,
				5: -8.68219346841726006818189891453e-1, 6: 2.75920996994467083049415600797e1,
				7: 2.01540675504778934086186788979e1, 8: -4.34898841810699588477366255144e1}),
			row(9, map[int]float64{1: 4.77662536438264365890433908527e-1, 4: -2.48811461997166764192642586468e0,
				5: -5.90290826836842996371446475743e-1, 6: 2.12300514481811942347288949897e1,
				7: 1.52792336328824235832596922938e1, 8: -3.32882109689848629194453265587e1,
				9: -2.03312017085086261358222928593e-2}),
			row(10, map[int]float64{1: -9.3714243008598732571704021658e-1, 4: 5.18637242884406370830023853209e0,
				5: 1.09143734899672957818500254654e0, 6: -8.14978701074692612513997267357e0,
				7: -1.85200656599969598641566180701e1, 8: 2.27394870993505042818970056734e1,
				9: 2.49360555267965238987089396762e0, 10: -3.0467644718982195003823669022e0}),
			row(11, map[int]float64{1: 2.27331014751653820792359768449e0, 4: -1.05344954667372501984066689879e1,
				5: -2.00087205822486249909675718444e0, 6: -1.79589318631187989172765950534e1,
				7: 2.79488845294199600508499808837e1, 8: -2.85899827713502369474065508674e0,
				9: -8.87285693353062954433549289258e0, 10: 1.23605671757943030647266201528e1,
				11: 6.43392746015763530355970484046e-1}),
		},
		b: b,
		e: row(12, map[int]float64{
			1: 0.1312004499419488073250102996e-01, 6: -0.1225156446376204440720569753e+01,
			7: -0.4957589496572501915214079952e+00, 8: 0.1664377182454986536961530415e+01,
			9: -0.3503288487499736816886487290e+00, 10: 0.3341791187130174790297318841e+00,
			11: 0.8192320648511571246570742613e-01, 12: -0.2235530786388629525884427845e-01,
		}),
		e3: e3, errOrder: 7,
	}
}()

// dop853Extra are the three extra stages (14, 15, 16 in Hairer's numbering)
// of DOP853's continuous extension: nodes and coefficients on stages 1 … 15
// (stage 13 is f(t+h, zNext)).
var dop853Extra = func() (out [3]struct {
	c float64
	a []float64
}) {
	set := func(i int, c float64, kv map[int]float64) {
		out[i].c = c
		out[i].a = make([]float64, 13+i)
		for k, v := range kv {
			out[i].a[k-1] = v
		}
	}
	set(0, 0.1, map[int]float64{1: 5.61675022830479523392909219681e-2, 7: 2.53500210216624811088794765333e-1,
		8: -2.46239037470802489917441475441e-1, 9: -1.24191423263816360469010140626e-1,
		10: 1.5329179827876569731206322685e-1, 11: 8.20105229563468988491666602057e-3,
		12: 7.56789766054569976138603589584e-3, 13: -8.298e-3})
	set(1, 0.2, map[int]float64{1: 3.18346481635021405060768473261e-2, 6: 2.83009096723667755288322961402e-2,
		7: 5.35419883074385676223797384372e-2, 8: -5.49237485713909884646569340306e-2,
		11: -1.08347328697249322858509316994e-4, 12: 3.82571090835658412954920192323e-4,
		13: -3.40465008687404560802977114492e-4, 14: 1.41312443674632500278074618366e-1})
	set(2, 7.0/9, map[int]float64{1: -4.28896301583791923408573538692e-1, 6: -4.69762141536116384314449447206e0,
		7: 7.68342119606259904184240953878e0, 8: 4.06898981839711007970213554331e0,
		9: 3.56727187455281109270669543021e-1, 13: -1.39902416515901462129418009734e-3,
		14: 2.9475147891527723389556272149e0, 15: -9.15095847217987001081870187138e0})
	return out
}()

// dop853D are the weights (on stages 1 … 16) of the four higher terms
// r5 … r8 of DOP853's continuous extension (each times h).
var dop853D = func() (d [4][16]float64) {
	set := func(i int, kv map[int]float64) {
		for k, v := range kv {
			d[i][k-1] = v
		}
	}
	set(0, map[int]float64{1: -0.84289382761090128651353491142e+01, 6: 0.56671495351937776962531783590e+00,
		7: -0.30689499459498916912797304727e+01, 8: 0.23846676565120698287728149680e+01,
		9: 0.21170345824450282767155149946e+01, 10: -0.87139158377797299206789907490e+00,
		11: 0.22404374302607882758541771650e+01, 12: 0.63157877876946881815570249290e+00,
		13: -0.88990336451333310820698117400e-01, 14: 0.18148505520854727256656404962e+02,
		15: -0.91946323924783554000451984436e+01, 16: -0.44360363875948939664310572000e+01})
	set(1, map[int]float64{1: 0.10427508642579134603413151009e+02, 6: 0.24228349177525818288430175319e+03,
		7: 0.16520045171727028198505394887e+03, 8: -0.37454675472269020279518312152e+03,
		9: -0.22113666853125306036270938578e+02, 10: 0.77334326684722638389603898808e+01,
		11: -0.30674084731089398182061213626e+02, 12: -0.93321305264302278729567221706e+01,
		13: 0.15697238121770843886131091075e+02, 14: -0.31139403219565177677282850411e+02,
		15: -0.93529243588444783865713862664e+01, 16: 0.35816841486394083752465898540e+02})
	set(2, map[int]float64{1: 0.19985053242002433820987653617e+02, 6: -0.38703730874935176555105901742e+03,
		7: -0.18917813819516756882830838328e+03, 8: 0.52780815920542364900561016686e+03,
		9: -0.11573902539959630126141871134e+02, 10: 0.68812326946963000169666922661e+01,
		11: -0.10006050966910838403183860980e+01, 12: 0.77771377980534432092869265740e+00,
		13: -0.27782057523535084065932004339e+01, 14: -0.60196695231264120758267380846e+02,
		15: 0.84320405506677161018159903784e+02, 16: 0.11992291136182789328035130030e+02})
	set(3, map[int]float64{1: -0.25693933462703749003312586129e+02, 6: -0.15418974869023643374053993627e+03,
		7: -0.23152937917604549567536039109e+03, 8: 0.35763911791061412378285349910e+03,
		9: 0.93405324183624310003907691704e+02, 10: -0.37458323136451633156875139351e+02,
		11: 0.10409964950896230045147246184e+03, 12: 0.29840293426660503123344363579e+02,
		13: -0.43533456590011143754432175058e+02, 14: 0.96324553959188282948394950600e+02,
		15: -0.39177261675615439165231486172e+02, 16: -0.14972683625798562581422125276e+03})
	return d
}()

// dopri5Tableau is Dormand–Prince 5(4) in the generic form (the solver's
// Dopri5 path uses dopri5Stages directly; this serves StepODE).
var dopri5Tableau = &erkTableau{
	c: dopriC[:], a: dopriA[:], b: append(append([]float64(nil), dopriA[6]...), 0), e: dopriE[:],
	fsal: true, errOrder: 4,
}

// tableauOf returns the explicit pair of an adaptive explicit method.
func tableauOf(m Method) *erkTableau {
	switch m {
	case Dopri5:
		return dopri5Tableau
	case Tsit5:
		return tsit5Tableau
	case Bosh3:
		return bosh3Tableau
	case Dopri8:
		return dopri8Tableau
	}
	return nil
}

// stages builds the stages of one step from t to t+dt given k1 = f(t, z).
// It returns the solution, kNext = f(t+dt, zNext) and the stages (with kNext
// appended when the last stage is not first-same-as-last).
func (tb *erkTableau) stages(ctx *context.Context, f Func, t, dt, z, k1 *Node) (zNext, kNext *Node, ks []*Node) {
	ctx = ctx.Checked(false)
	s := len(tb.c)
	ks = make([]*Node, s, s+1)
	ks[0] = k1
	for i := 1; i < s; i++ {
		zi := axpy(z, dt, tb.a[i], ks)
		if tb.fsal && i == s-1 {
			zNext = zi
		}
		ks[i] = callField(ctx, f, graph.Add(t, graph.MulScalar(dt, tb.c[i])), zi)
	}
	if tb.fsal {
		return zNext, ks[s-1], ks
	}
	zNext = axpy(z, dt, tb.b, ks)
	kNext = callField(ctx, f, graph.Add(t, dt), zNext)
	return zNext, kNext, append(ks, kNext)
}

// ratio builds the acceptance ratio of a step (≤ 1: accept). For pairs with
// one estimate it is ErrorRatio; for Dopri8 it is Hairer's combination of
// the fifth- and third-order estimates,
// e5² / sqrt(n·(e5² + 0.01·e3²)) with eₖ² = Σ (errₖ / scale)².
func (tb *erkTableau) ratio(dt, z, zNext *Node, ks []*Node, rtol, atol float64) *Node {
	err5 := combine(dt, tb.e, ks)
	if tb.e3 == nil {
		return ErrorRatio(err5, z, zNext, rtol, atol)
	}
	scale := graph.AddScalar(graph.MulScalar(graph.Max(graph.Abs(z), graph.Abs(zNext)), rtol), atol)
	sq := func(e *Node) *Node {
		r := graph.Div(e, scale)
		return graph.ReduceAllSum(graph.Mul(r, r))
	}
	e5, e3 := sq(err5), sq(combine(dt, tb.e3, ks))
	n := float64(z.Shape().Size())
	deno := graph.MulScalar(graph.Add(e5, graph.MulScalar(e3, 0.01)), n)
	one := graph.OnesLike(deno)
	deno = graph.Where(graph.GreaterThan(deno, graph.ZerosLike(deno)), deno, one)
	return graph.Div(e5, graph.Sqrt(deno))
}

// dop853Dense builds r5 … r8 of DOP853's continuous extension of a step
// from (t, z) of size dt with stages ks (13: the 12 stages and f(t+dt,
// zNext)), evaluating f three more times.
func dop853Dense(ctx *context.Context, f Func, t, dt, z *Node, ks []*Node) []*Node {
	ctx = ctx.Checked(false)
	all := append([]*Node(nil), ks...)
	for _, x := range dop853Extra {
		zi := axpy(z, dt, x.a, all)
		all = append(all, callField(ctx, f, graph.Add(t, graph.MulScalar(dt, x.c)), zi))
	}
	out := make([]*Node, 4)
	for i := range out {
		out[i] = combine(dt, dop853D[i][:], all)
	}
	return out
}

// hermite returns the cubic Hermite interpolant of a step at θ from its
// ends y0, y1 and slopes f0, f1 (third order: Bosh3's dense output).
func hermite(y0, y1, f0, f1 []float64, h, theta float64) []float64 {
	out := make([]float64, len(y0))
	t2, t3 := theta*theta, theta*theta*theta
	h00, h10, h01, h11 := 2*t3-3*t2+1, t3-2*t2+theta, -2*t3+3*t2, t3-t2
	for i := range out {
		out[i] = h00*y0[i] + h10*h*f0[i] + h01*y1[i] + h11*h*f1[i]
	}
	return out
}

// dop853At evaluates DOP853's continuous extension with terms r1 … r8 at θ:
// r1 + θ(r2 + (1−θ)(r3 + θ(r4 + (1−θ)(r5 + θ(r6 + (1−θ)(r7 + θ·r8)))))).
func dop853At(r [8][]float64, theta float64) []float64 {
	out := make([]float64, len(r[0]))
	u := 1 - theta
	for i := range out {
		v := r[7][i]
		for j := 6; j >= 1; j-- {
			w := u // the terms after r2, r4, r6 carry (1−θ), after r3, r5, r7 θ
			if j%2 == 0 {
				w = theta
			}
			v = r[j][i] + w*v
		}
		out[i] = r[0][i] + theta*v
	}
	return out
}

// callField calls f and checks that its output has z's shape and dtype,
// panicking with a message that names both otherwise.
func callField(ctx *context.Context, f Func, t, z *Node) *Node {
	out := f(ctx, t, z)
	if out == nil {
		panic(fmt.Errorf("diffeq: the vector field f returned nil for a state shaped %s", z.Shape()))
	}
	if out.DType() != z.DType() {
		panic(fmt.Errorf("diffeq: the vector field f returned dtype %s for a state of dtype %s: a vector field must compute in the state's dtype", out.DType(), z.DType()))
	}
	if !out.Shape().Equal(z.Shape()) {
		panic(fmt.Errorf("diffeq: the vector field f returned shape %s for a state of shape %s: its output must have the state's shape", out.Shape(), z.Shape()))
	}
	return out
}

// isFiniteAll builds a scalar that is true when every element of x is finite.
func isFiniteAll(x *Node) *Node {
	return graph.LogicalAll(graph.IsFinite(x))
}

// finiteF64 reports whether every value is finite.
func finiteF64(xs []float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
