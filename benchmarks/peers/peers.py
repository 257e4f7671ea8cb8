"""Runs one `gosde bench` row on a Python peer (torchsde / torchdiffeq, or diffrax).

    python peers.py --lib torch --row sde256 --warmup 1 --repeats 3

prints one JSON object: the row, the library, the unit, one value per timed run
(in the unit of `gosde bench`: path-steps/s, it/s, images/s or s), the NFE or
step count of the last run, a note, and the versions of the packages used.

Rows named as in `gosde bench` run at gosde's settings; rows ending in `-ex` run
at the setting of the peer's own example (torchsde examples/latent_sde.py,
torchdiffeq examples/latent_ode.py and odenet_mnist.py), and gosde has rows of
the same names (pkg/bench/peers.go). The settings, and every difference left,
are described in docs/bench/peers.md.

All models, data generators and loops here are written for this benchmark; the
settings (layer sizes, tolerances, learning rates, data formulas) are the
examples'.
"""

import argparse
import gzip
import json
import math
import os
import platform
import sys
import time

import numpy as np

ROWS = {
    # row: (unit, work per timed run for the throughput, libraries)
    "sde256": "path-steps/s",
    "sde4096": "path-steps/s",
    "latsde": "it/s",
    "latsdeadj": "it/s",
    "latsde-ex": "it/s",
    "latsdeadj-ex": "it/s",
    "latode": "it/s",
    "latodeadj": "it/s",
    "latode-ex": "it/s",
    "latodeadj-ex": "it/s",
    "mnist": "images/s",
    "mnistadj": "images/s",
    "mnist-ex": "images/s",
    "mnistadj-ex": "images/s",
    "oukl": "s",
    "oukl1000": "s",
}

# Rows each library runs (the rest print {"unavailable": reason}).
DIFFRAX_ROWS = {"sde256", "sde4096", "latsde", "latsde-ex", "latsdeadj", "latsdeadj-ex", "latode", "latodeadj", "latode-ex",
                "latodeadj-ex", "oukl", "oukl1000"}

LATODE_STEPS_PER_RUN = 5  # as bench.LatentODEStepsPerRun
MNIST_STEPS_PER_RUN = 2  # as pkg/bench's mnistStepsPerRun
MNIST_BATCH = 128


def versions(lib):
    v = {"python": platform.python_version(), "numpy": np.__version__}
    if lib == "torch":
        import torch
        import torchdiffeq
        import torchsde
        v.update(torch=torch.__version__, torchsde=torchsde.__version__, torchdiffeq=torchdiffeq.__version__,
                 torch_threads=torch.get_num_threads())
    else:
        import diffrax
        import equinox
        import jax
        import jaxlib
        v.update(jax=jax.__version__, jaxlib=jaxlib.__version__, diffrax=diffrax.__version__,
                 equinox=equinox.__version__, jax_devices=str(jax.devices()))
    return v


CPU_SECONDS = []  # process CPU time (all threads) of each timed run


def measure(run, warmup, repeats, work):
    """Calls run() warmup times untimed, then repeats times timed; returns
    work/seconds per timed run (seconds if work is 0), and appends each
    run's process CPU seconds to CPU_SECONDS."""
    for _ in range(warmup):
        run()
    vals = []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        run()
        s = time.perf_counter() - t
        CPU_SECONDS.append(time.process_time() - c)
        vals.append(work / s if work else s)
    return vals


# ---------------------------------------------------------------- data

def sine_data():
    """gosde's latsde data (latentsde.BenchmarkData): 0.5·sin(πt)+0.2 at 10 times
    on [0, 2], every time in the likelihood."""
    ts = np.array([0, 0.3, 0.5, 0.7, 0.9, 1.1, 1.2, 1.5, 1.7, 2.0])
    return ts, 0.5 * np.sin(np.pi * ts) + 0.2, slice(None)


def segmented_cosine_data():
    """torchsde examples/latent_sde.py's default data: cos(2πt) at 10 times on
    [0.3, 0.8] and 10 on [1.2, 1.5]; the solve also covers t = 0 and t = 2,
    which the likelihood leaves out."""
    obs = np.concatenate((np.linspace(0.3, 0.8, 10), np.linspace(1.2, 1.5, 10)))
    ts = np.concatenate(([0.0], obs, [2.0]))
    return ts, np.cos(2 * np.pi * obs), slice(1, -1)


def spirals(nspiral, ntotal, nsample=100, stop=6 * np.pi, noise=0.3, a=0.0, b=0.3, seed=0):
    """Archimedean spirals as in torchdiffeq examples/latent_ode.py: ntotal
    times on [0, stop], half the time clockwise (r = a + 50b/(stop+1−t)) and
    half counter-clockwise (r = a + b·t); each spiral observed at nsample
    consecutive times from a start drawn in [nsample, ntotal − nsample), with
    Gaussian noise. Returns (observations (nspiral, nsample, 2), sample times)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, stop, ntotal)
    zc = stop + 1.0 - t
    rc = a + b * 50.0 / zc
    cw = np.stack((rc * np.cos(zc) - 5.0, rc * np.sin(zc)), axis=1)
    rcc = a + b * t
    ccw = np.stack((rcc * np.cos(t) + 5.0, rcc * np.sin(t)), axis=1)
    out = np.empty((nspiral, nsample, 2))
    for i in range(nspiral):
        s = rng.integers(nsample, ntotal - nsample)
        src = ccw if rng.random() > 0.5 else cw
        out[i] = src[s:s + nsample] + rng.normal(size=(nsample, 2)) * noise
    return out.astype(np.float32), t[:nsample].astype(np.float32)


def latode_setting(row):
    """(spirals, points per spiral on [0, 6π]) for the latent ODE rows: gosde's
    spirals.BenchConfig trains on 900 spirals (1000 less the held-out tenth)
    sampled at 1000 points; the example on 1000 spirals at its default
    ntotal = 500 (it never passes its own 1000)."""
    return (1000, 500) if row.endswith("-ex") else (900, 1000)


def mnist_dir():
    d = os.environ.get("GOSDE_MNIST_DIR")
    if not d or not os.path.isdir(d):
        sys.exit("peers.py: set GOSDE_MNIST_DIR to the directory with train-images-idx3-ubyte.gz (the driver does)")
    return d


def load_mnist_train():
    d = mnist_dir()
    with gzip.open(os.path.join(d, "train-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 28, 28)
    with gzip.open(os.path.join(d, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8).astype(np.int64)
    return images, labels


class MNISTBatches:
    """Shuffled batches of 128; gosde's setting normalises pixels as
    (p/255 − 0.1307)/0.3081; the example's keeps p/255 and takes a random
    28×28 crop of the image zero-padded by 4 (RandomCrop(28, padding=4))."""

    def __init__(self, example, seed=0):
        self.images, self.labels = load_mnist_train()
        self.example = example
        self.rng = np.random.default_rng(seed)
        self.order, self.pos = self.rng.permutation(len(self.labels)), 0

    def next(self):
        if self.pos + MNIST_BATCH > len(self.order):
            self.order, self.pos = self.rng.permutation(len(self.labels)), 0
        idx = self.order[self.pos:self.pos + MNIST_BATCH]
        self.pos += MNIST_BATCH
        x = self.images[idx].astype(np.float32) / 255.0
        if self.example:
            padded = np.zeros((len(idx), 36, 36), np.float32)
            padded[:, 4:32, 4:32] = x
            off = self.rng.integers(0, 9, size=(len(idx), 2))
            x = np.stack([padded[i, r:r + 28, c:c + 28] for i, (r, c) in enumerate(off)])
        else:
            x = (x - 0.1307) / 0.3081
        return x[:, None, :, :], self.labels[idx]


# ---------------------------------------------------------------- torch

def torch_rows(row, warmup, repeats):
    import torch
    import torchdiffeq
    import torchsde
    from torch import nn

    torch.manual_seed(0)

    if row in ("sde256", "sde4096"):
        batch = int(row[3:])

        class SDE(nn.Module):
            noise_type, sde_type = "diagonal", "ito"

            def __init__(self):
                super().__init__()
                self.drift = nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 8))
                self.diffusion = nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 8))
                self.nfe = 0

            def f(self, t, y):
                self.nfe += 1
                return self.drift(y)

            def g(self, t, y):
                return self.diffusion(y)

        sde = SDE()
        y0 = torch.tensor([(i % 7) / 7 - 0.4 for i in range(batch * 8)], dtype=torch.float32).reshape(batch, 8)
        ts = torch.tensor([0.0, 1.0])

        def run():
            sde.nfe = 0
            with torch.no_grad():
                y = torchsde.sdeint(sde, y0, ts, method="euler", dt=1e-3)
            assert torch.isfinite(y).all()

        vals = measure(run, warmup, repeats, batch * 1000)
        return vals, sde.nfe, f"steps {sde.nfe} (drift evaluations); torchsde's default BrownianInterval, drawn inside the timed call; no gradient"

    if row.startswith("latsde"):
        example = row.endswith("-ex")
        ts_, ys_, keep = segmented_cosine_data() if example else sine_data()
        ts = torch.tensor(ts_, dtype=torch.float32)
        ys = torch.tensor(ys_, dtype=torch.float32)[:, None]
        theta, mu, sigma = 1.0, 0.0, 0.5
        logvar = math.log(sigma ** 2 / (2 * theta))

        class Latent(nn.Module):
            noise_type, sde_type = "diagonal", "ito"

            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(3, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 1))
                nn.init.zeros_(self.net[-1].weight)
                nn.init.zeros_(self.net[-1].bias)
                self.q_mean = nn.Parameter(torch.tensor([[mu]]))
                self.q_logvar = nn.Parameter(torch.tensor([[logvar]]))
                self.nfe = 0

            def f(self, t, y):  # [posterior drift, ½u²] on the state [z, log q/p]
                self.nfe += 1
                z = y[:, :1]
                tt = torch.full_like(z, float(t))
                post = self.net(torch.cat((torch.sin(tt), torch.cos(tt), z), dim=1))
                u = (post - theta * (mu - z)) / sigma
                return torch.cat((post, 0.5 * u * u), dim=1)

            def g(self, t, y):
                return torch.cat((torch.full_like(y[:, :1], sigma), torch.zeros_like(y[:, :1])), dim=1)

        model = Latent()
        adjoint = "adj" in row
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.999) if example else None
        batch, step = 512, [0]
        sdeint = torchsde.sdeint_adjoint if adjoint else torchsde.sdeint
        pstd = math.sqrt(sigma ** 2 / (2 * theta))

        def run():
            model.nfe = 0
            opt.zero_grad()
            qstd = torch.exp(0.5 * model.q_logvar)
            z0 = model.q_mean + torch.randn(batch, 1) * qstd
            kl0 = (torch.log(pstd / qstd) + (qstd ** 2 + (model.q_mean - mu) ** 2) / (2 * pstd ** 2) - 0.5).sum()
            y0 = torch.cat((z0, torch.zeros(batch, 1)), dim=1)
            ys_sol = sdeint(model, y0, ts, method="euler", dt=1e-2)
            zs = ys_sol[:, :, 0][keep]
            logp = torch.distributions.Laplace(zs, 0.05).log_prob(ys).sum(0).mean(0)
            kl = kl0 + ys_sol[-1, :, 1].mean()
            w = min(1.0, (step[0] + 1) / 100)
            loss = -logp + w * kl
            loss.backward()
            opt.step()
            if sched:
                sched.step()
            step[0] += 1
            assert math.isfinite(loss.item())

        vals = measure(run, warmup, repeats, 1)
        how = "stochastic adjoint (torchsde's default adjoint method)" if adjoint else "backprop through the solve"
        return vals, model.nfe, f"{how}; drift evaluations {model.nfe}" + (" (forward and backward); " if adjoint else "; ") + (
            "Adam 1e-2 with ExponentialLR 0.999 (the example)" if example else "Adam 1e-2, constant")

    if row.startswith("latode"):
        nspiral, ntotal = latode_setting(row)
        obs_np, ts_np = spirals(nspiral, ntotal)
        obs, ts = torch.from_numpy(obs_np), torch.from_numpy(ts_np)
        adjoint = "adj" in row

        class Field(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(4, 20), nn.ELU(), nn.Linear(20, 20), nn.ELU(), nn.Linear(20, 4))
                self.nfe = 0

            def forward(self, t, z):
                self.nfe += 1
                return self.net(z)

        field = Field()
        i2h, h2o = nn.Linear(2 + 25, 25), nn.Linear(25, 8)
        dec = nn.Sequential(nn.Linear(4, 20), nn.ReLU(), nn.Linear(20, 2))
        params = list(field.parameters()) + list(dec.parameters()) + list(i2h.parameters()) + list(h2o.parameters())
        opt = torch.optim.Adam(params, lr=0.01)
        odeint = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
        log2pi, noise_logvar = math.log(2 * math.pi), 2 * math.log(0.3)

        def step():
            opt.zero_grad()
            h = torch.zeros(nspiral, 25)
            for t in reversed(range(obs.shape[1])):
                h = torch.tanh(i2h(torch.cat((obs[:, t], h), dim=1)))
            out = h2o(h)
            qm, qlv = out[:, :4], out[:, 4:]
            z0 = torch.randn_like(qm) * torch.exp(0.5 * qlv) + qm
            pred = dec(odeint(field, z0, ts, rtol=1e-7, atol=1e-9, method="dopri5").permute(1, 0, 2))
            logpx = (-0.5 * (log2pi + noise_logvar + (obs - pred) ** 2 / math.exp(noise_logvar))).sum((1, 2))
            kl = (-0.5 * qlv + (torch.exp(qlv) + qm ** 2) / 2 - 0.5).sum(1)
            loss = (kl - logpx).mean()
            nf = field.nfe
            loss.backward()
            opt.step()
            assert math.isfinite(loss.item())
            return nf

        nfe = [0, 0]

        def run():
            for _ in range(LATODE_STEPS_PER_RUN):
                field.nfe = 0
                nfe[0] = step()
                nfe[1] = field.nfe - nfe[0]

        vals = measure(run, warmup, repeats, LATODE_STEPS_PER_RUN)
        return vals, nfe[0] + nfe[1], (f"{nspiral} spirals, {ntotal} points on [0, 6π], samples on [0, {ts_np[-1]:.3g}]; "
                                       f"{'odeint_adjoint' if adjoint else 'odeint'} dopri5 rtol 1e-7 atol 1e-9; "
                                       f"NFE forward {nfe[0]}, backward {nfe[1]} (last step)")

    if row.startswith("mnist"):
        example = row.endswith("-ex")
        adjoint = "adj" in row
        odeint = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint

        def gn(c):
            return nn.GroupNorm(min(32, c), c)

        class ConcatConv(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(65, 64, 3, 1, 1)

            def forward(self, t, x):
                return self.conv(torch.cat((torch.ones_like(x[:, :1]) * t, x), dim=1))

        class Func(nn.Module):
            def __init__(self):
                super().__init__()
                self.n1, self.c1, self.n2, self.c2, self.n3 = gn(64), ConcatConv(), gn(64), ConcatConv(), gn(64)
                self.nfe = 0

            def forward(self, t, x):
                self.nfe += 1
                x = self.c1(t, torch.relu(self.n1(x)))
                x = self.c2(t, torch.relu(self.n2(x)))
                return self.n3(x)

        func = Func()
        tspan = torch.tensor([0.0, 1.0])

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.func = func

            def forward(self, x):
                return odeint(self.func, x, tspan, rtol=1e-3, atol=1e-3)[1]

        model = nn.Sequential(
            nn.Conv2d(1, 64, 3, 1), gn(64), nn.ReLU(), nn.Conv2d(64, 64, 4, 2, 1), gn(64), nn.ReLU(),
            nn.Conv2d(64, 64, 4, 2, 1), Block(), gn(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(64, 10))
        nparams = sum(p.numel() for p in model.parameters())
        opt = (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if example
               else torch.optim.Adam(model.parameters(), lr=1e-3))
        data = MNISTBatches(example)
        nfe = [0, 0]

        def run():
            for _ in range(MNIST_STEPS_PER_RUN):
                x, y = data.next()
                func.nfe = 0
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
                nfe[0] = func.nfe
                loss.backward()
                nfe[1] = func.nfe - nfe[0]
                opt.step()
                assert math.isfinite(loss.item())

        vals = measure(run, warmup, repeats, MNIST_STEPS_PER_RUN * MNIST_BATCH)
        return vals, nfe[0] + nfe[1], (f"{nparams} parameters; {'odeint_adjoint' if adjoint else 'odeint'} dopri5 tol 1e-3; "
                                       + ("SGD 0.1 momentum 0.9, inputs in [0, 1], random crops (the example)" if example
                                          else "Adam 1e-3, normalised inputs, no crops")
                                       + f"; NFE forward {nfe[0]}, backward {nfe[1]} (last step)")

    if row.startswith("oukl"):
        saves = 101 if row == "oukl1000" else 100
        th_p, mu_p, th_q, mu_q, sig = 10.0, 1.0, 23.0, 2.0, 0.5
        paths = 4096

        class Pair(nn.Module):
            noise_type, sde_type = "diagonal", "ito"

            def __init__(self):
                super().__init__()
                self.nfe = 0

            def f(self, t, y):
                self.nfe += 1
                z = y[:, :1]
                fq, fp = th_q * (mu_q - z), th_p * (mu_p - z)
                u = (fq - fp) / sig
                return torch.cat((fq, 0.5 * u * u), dim=1)

            def g(self, t, y):
                return torch.cat((torch.full_like(y[:, :1], sig), torch.zeros_like(y[:, :1])), dim=1)

        pair = Pair()
        ts = torch.linspace(0, 1, saves)
        kl = [0.0]

        def run():
            pair.nfe = 0
            with torch.no_grad():
                ys = torchsde.sdeint(pair, torch.zeros(paths, 2), ts, method="euler", dt=1e-3)
            kl[0] = ys[-1, :, 1].mean().item()

        vals = measure(run, warmup, repeats, 0)
        return vals, pair.nfe, f"{saves} save times, {pair.nfe} Euler steps, KL {kl[0]:.4g}; 4096 paths, float32"

    raise SystemExit(f"peers.py: no torch code for row {row}")


# ---------------------------------------------------------------- diffrax

def torch_like_linear(key, fan_in, fan_out, zero=False):
    """Weights and bias of torch.nn.Linear's default initialisation."""
    import jax
    import jax.numpy as jnp
    if zero:
        return jnp.zeros((fan_in, fan_out)), jnp.zeros((fan_out,))
    k1, k2 = jax.random.split(key)
    bound = 1 / math.sqrt(fan_in)
    return (jax.random.uniform(k1, (fan_in, fan_out), minval=-bound, maxval=bound),
            jax.random.uniform(k2, (fan_out,), minval=-bound, maxval=bound))


def adam(lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam as torch.optim.Adam: returns (init, update(grads, state, params, lr_scale))."""
    import jax
    import jax.numpy as jnp

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return (zeros, zeros, jnp.zeros((), jnp.int32))

    def update(grads, state, params, scale=1.0):
        m, v, n = state
        n = n + 1
        m = jax.tree_util.tree_map(lambda m_, g: b1 * m_ + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v_, g: b2 * v_ + (1 - b2) * g * g, v, grads)
        c1, c2 = 1 - b1 ** n, 1 - b2 ** n
        params = jax.tree_util.tree_map(
            lambda p, m_, v_: p - lr * scale * (m_ / c1) / (jnp.sqrt(v_ / c2) + eps), params, m, v)
        return params, (m, v, n)

    return init, update


def diffrax_rows(row, warmup, repeats):
    import diffrax as dfx
    import jax
    import jax.numpy as jnp
    import lineax as lx

    key = jax.random.PRNGKey(0)

    class GridBM(dfx.AbstractPath):
        """Brownian increments on the fixed grid t0 + k·dt, drawn beforehand
        (dW[k] ~ N(0, dt)): evaluate(t0, t1) returns the increment of the
        grid step starting at min(t0, t1), signed by the direction and
        scaled for a partial step. Only increments (t1 given) are used."""
        t0: float
        t1: float
        dt: float
        dW: jax.Array

        def evaluate(self, t0, t1=None, left=True):
            lo, span = jnp.minimum(t0, t1), t1 - t0
            k = jnp.clip(jnp.round((lo - self.t0) / self.dt).astype(jnp.int32), 0, self.dW.shape[0] - 1)
            return self.dW[k] * jnp.sign(span) * jnp.sqrt(jnp.abs(span) / self.dt)

    def increments(k, n, dt, shape):
        return jax.random.normal(k, (n,) + shape) * math.sqrt(dt)

    def mlp(p, x, act):
        for i, (w, b) in enumerate(p):
            x = x @ w + b
            if i < len(p) - 1:
                x = act(x)
        return x

    if row in ("sde256", "sde4096"):
        batch = int(row[3:])
        ks = jax.random.split(key, 4)
        params = ([torch_like_linear(ks[0], 8, 64), torch_like_linear(ks[1], 64, 8)],
                  [torch_like_linear(ks[2], 8, 64), torch_like_linear(ks[3], 64, 8)])

        def field(p, y):  # the batch as one flat state (batch·8,)
            return mlp(p, y.reshape(batch, 8), jnp.tanh).reshape(-1)

        @jax.jit
        def solve(p, y0, k):
            bm = GridBM(0.0, 1.0, 1e-3, increments(k, 1001, 1e-3, (batch * 8,)))
            terms = dfx.MultiTerm(dfx.ODETerm(lambda t, y, a: field(a[0], y)),
                                  dfx.ControlTerm(lambda t, y, a: lx.DiagonalLinearOperator(field(a[1], y)), bm))
            sol = dfx.diffeqsolve(terms, dfx.Euler(), 0.0, 1.0, 1e-3, y0, args=p, saveat=dfx.SaveAt(t1=True),
                                  max_steps=1001, adjoint=dfx.ForwardMode())
            return sol.ys[-1], sol.stats["num_steps"]

        y0 = jnp.asarray([(i % 7) / 7 - 0.4 for i in range(batch * 8)], jnp.float32)
        steps, counter = [0], [1]

        def run():
            counter[0] += 1
            ys, n = solve(params, y0, jax.random.PRNGKey(counter[0]))
            ys.block_until_ready()
            steps[0] = int(n)
            assert bool(jnp.isfinite(ys).all())

        vals = measure(run, max(warmup, 1), repeats, batch * 1000)
        return vals, steps[0], (f"{steps[0]} Euler steps; jit(diffeqsolve) on the batch as one state, compilation excluded; "
                                "increments drawn inside the timed call (jax.random.normal, then looked up per step)")

    if row.startswith("latsde"):
        example = row.endswith("-ex")
        ts_, ys_, keep = segmented_cosine_data() if example else sine_data()
        ts, ys = jnp.asarray(ts_, jnp.float32), jnp.asarray(ys_, jnp.float32)
        theta, mu, sigma = 1.0, 0.0, 0.5
        logvar = math.log(sigma ** 2 / (2 * theta))
        pstd = math.sqrt(sigma ** 2 / (2 * theta))
        ks = jax.random.split(key, 3)
        params = {"net": [torch_like_linear(ks[0], 3, 200), torch_like_linear(ks[1], 200, 200),
                          torch_like_linear(ks[2], 200, 1, zero=True)],
                  "q": jnp.asarray([mu, logvar], jnp.float32)}
        batch = 512
        adjoint = dfx.BacksolveAdjoint() if "adj" in row else dfx.RecursiveCheckpointAdjoint(checkpoints=256)

        def drift(t, y, net):  # state (batch·2,): [z, log q/p] per row
            y = y.reshape(batch, 2)
            z = y[:, :1]
            tt = jnp.full_like(z, t)
            post = mlp(net, jnp.concatenate((jnp.sin(tt), jnp.cos(tt), z), axis=1), jnp.tanh)
            u = (post - theta * (mu - z)) / sigma
            return jnp.concatenate((post, 0.5 * u * u), axis=1).reshape(-1)

        g = jnp.tile(jnp.asarray([sigma, 0.0], jnp.float32), batch)

        def paths(net, z0, k):
            bm = GridBM(float(ts_[0]), float(ts_[-1]), 1e-2, increments(k, 201, 1e-2, (batch * 2,)))
            terms = dfx.MultiTerm(dfx.ODETerm(drift), dfx.ControlTerm(lambda t, y, a: lx.DiagonalLinearOperator(g), bm))
            y0 = jnp.concatenate((z0, jnp.zeros_like(z0)), axis=1).reshape(-1)
            sol = dfx.diffeqsolve(terms, dfx.Euler(), float(ts_[0]), float(ts_[-1]), 1e-2, y0, args=net,
                                  saveat=dfx.SaveAt(ts=ts), max_steps=256,
                                  adjoint=adjoint)
            return sol.ys.reshape(len(ts_), batch, 2).swapaxes(0, 1), sol.stats["num_steps"]

        def loss_fn(p, k, w):
            k0, k1 = jax.random.split(k)
            qm, qlv = p["q"][0], p["q"][1]
            qstd = jnp.exp(0.5 * qlv)
            z0 = qm + jax.random.normal(k0, (batch, 1)) * qstd
            sol, n = paths(p["net"], z0, k1)
            zs = sol[:, keep, 0]  # (batch, observed times)
            logp = (-jnp.log(2 * 0.05) - jnp.abs(ys[None, :] - zs) / 0.05).sum(1).mean()
            kl0 = jnp.log(pstd / qstd) + (qstd ** 2 + (qm - mu) ** 2) / (2 * pstd ** 2) - 0.5
            kl = kl0 + sol[:, -1, 1].mean()
            return -logp + w * kl, n

        init, update = adam(1e-2)

        @jax.jit
        def train_step(p, s, k, w, scale):
            (loss, n), g = jax.value_and_grad(loss_fn, has_aux=True)(p, k, w)
            p, s = update(g, s, p, scale)
            return p, s, loss, n

        state = [params, init(params), 0, 0]

        def run():
            it = state[2]
            scale = 0.999 ** it if example else 1.0
            p, s, loss, n = train_step(state[0], state[1], jax.random.PRNGKey(it + 1), min(1.0, (it + 1) / 100), scale)
            loss.block_until_ready()
            state[0], state[1], state[2], state[3] = p, s, it + 1, int(n)
            assert math.isfinite(float(loss))

        vals = measure(run, max(warmup, 1), repeats, 1)
        return vals, state[3], (f"{state[3]} Euler steps; "
                                + ("continuous adjoint (BacksolveAdjoint, the same increments backwards), " if "adj" in row
                                   else "backprop through the solve (RecursiveCheckpointAdjoint, a checkpoint per step), ")
                                + "jit, the batch as one state, compilation excluded; increments drawn inside the timed call; Adam written here"
                                + (" with the example's 0.999 decay" if example else ""))

    if row.startswith("latode"):
        nspiral, ntotal = latode_setting(row)
        obs_np, ts_np = spirals(nspiral, ntotal)
        obs, ts = jnp.asarray(obs_np), jnp.asarray(ts_np)
        adjoint = dfx.BacksolveAdjoint() if "adj" in row else dfx.RecursiveCheckpointAdjoint()
        ks = jax.random.split(key, 7)
        params = {"f": [torch_like_linear(ks[0], 4, 20), torch_like_linear(ks[1], 20, 20), torch_like_linear(ks[2], 20, 4)],
                  "i2h": torch_like_linear(ks[3], 27, 25), "h2o": torch_like_linear(ks[4], 25, 8),
                  "dec": [torch_like_linear(ks[5], 4, 20), torch_like_linear(ks[6], 20, 2)]}
        log2pi, noise_logvar = math.log(2 * math.pi), 2 * math.log(0.3)

        def loss_fn(p, k):
            def cell(h, x):
                w, b = p["i2h"]
                h = jnp.tanh(jnp.concatenate((x, h), axis=1) @ w + b)
                return h, None

            h, _ = jax.lax.scan(cell, jnp.zeros((nspiral, 25)), jnp.swapaxes(obs, 0, 1)[::-1])
            w, b = p["h2o"]
            out = h @ w + b
            qm, qlv = out[:, :4], out[:, 4:]
            z0 = jax.random.normal(k, qm.shape) * jnp.exp(0.5 * qlv) + qm
            sol = dfx.diffeqsolve(dfx.ODETerm(lambda t, z, a: mlp(a, z, jax.nn.elu)), dfx.Dopri5(), ts[0], ts[-1], None,
                                  z0, args=p["f"], saveat=dfx.SaveAt(ts=ts),
                                  stepsize_controller=dfx.PIDController(rtol=1e-7, atol=1e-9), adjoint=adjoint,
                                  max_steps=16384)
            pred = mlp(p["dec"], jnp.swapaxes(sol.ys, 0, 1), jax.nn.relu)
            logpx = (-0.5 * (log2pi + noise_logvar + (obs - pred) ** 2 / math.exp(noise_logvar))).sum((1, 2))
            kl = (-0.5 * qlv + (jnp.exp(qlv) + qm ** 2) / 2 - 0.5).sum(1)
            return (kl - logpx).mean(), sol.stats["num_steps"]

        init, update = adam(0.01)

        @jax.jit
        def train_step(p, s, k):
            (loss, n), g = jax.value_and_grad(loss_fn, has_aux=True)(p, k)
            p, s = update(g, s, p)
            return p, s, loss, n

        state = [params, init(params), 0, 0]

        def run():
            for _ in range(LATODE_STEPS_PER_RUN):
                p, s, loss, n = train_step(state[0], state[1], jax.random.PRNGKey(state[2] + 1))
                loss.block_until_ready()
                state[0], state[1], state[2], state[3] = p, s, state[2] + 1, int(n)
                assert math.isfinite(float(loss))

        vals = measure(run, max(warmup, 1), repeats, LATODE_STEPS_PER_RUN)
        return vals, 0, (f"{nspiral} spirals, {ntotal} points on [0, 6π], samples on [0, {ts_np[-1]:.3g}]; "
                         f"Dopri5 + PIDController rtol 1e-7 atol 1e-9, {type(adjoint).__name__}; "
                         f"{state[3]} accepted+rejected forward steps (last step); jit, compilation excluded")

    if row.startswith("oukl"):
        saves = 101 if row == "oukl1000" else 100
        th_p, mu_p, th_q, mu_q, sig = 10.0, 1.0, 23.0, 2.0, 0.5
        paths = 4096
        ts = jnp.linspace(0.0, 1.0, saves)

        def drift(t, y, a):  # state (paths·2,): [z, log q/p] per path
            y = y.reshape(paths, 2)
            z = y[:, :1]
            fq, fp = th_q * (mu_q - z), th_p * (mu_p - z)
            u = (fq - fp) / sig
            return jnp.concatenate((fq, 0.5 * u * u), axis=1).reshape(-1)

        g = jnp.tile(jnp.asarray([sig, 0.0], jnp.float32), paths)

        @jax.jit
        def solve(k):
            bm = GridBM(0.0, 1.0, 1e-3, increments(k, 1001, 1e-3, (paths * 2,)))
            terms = dfx.MultiTerm(dfx.ODETerm(drift), dfx.ControlTerm(lambda t, y, a: lx.DiagonalLinearOperator(g), bm))
            sol = dfx.diffeqsolve(terms, dfx.Euler(), 0.0, 1.0, 1e-3, jnp.zeros(paths * 2), saveat=dfx.SaveAt(ts=ts),
                                  max_steps=1001, adjoint=dfx.ForwardMode())
            return sol.ys[-1].reshape(paths, 2)[:, 1], sol.stats["num_steps"]

        out = [0.0, 0]

        def run():
            kl, n = solve(jax.random.PRNGKey(len(out) + 7))
            out[0], out[1] = float(kl.mean()), int(n)

        vals = measure(run, max(warmup, 1), repeats, 0)
        return vals, out[1], (f"{saves} save times, {out[1]} Euler steps, KL {out[0]:.4g}; 4096 paths, float32; "
                              "jit, the paths as one state, compilation excluded; increments drawn inside the timed call")

    raise SystemExit(f"peers.py: no diffrax code for row {row}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", choices=("torch", "diffrax"), required=True)
    ap.add_argument("--row", choices=sorted(ROWS), required=True)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first (jit compilation happens there)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch.set_num_threads (0: torch's default, one per core); XLA keeps its own pool")
    a = ap.parse_args()
    if a.warmup < 0 or a.repeats < 1 or a.threads < 0:
        ap.error(f"--warmup and --threads must be ≥ 0 and --repeats ≥ 1, got {a.warmup}, {a.threads} and {a.repeats}")
    if a.lib == "torch" and a.threads > 0:
        import torch
        torch.set_num_threads(a.threads)
    res = {"row": a.row, "lib": a.lib, "unit": ROWS[a.row]}
    if a.lib == "diffrax" and a.row not in DIFFRAX_ROWS:
        res["unavailable"] = "not written for diffrax here"
    else:
        fn = torch_rows if a.lib == "torch" else diffrax_rows
        vals, nfe, note = fn(a.row, a.warmup, a.repeats)
        res.update(values=vals, cpu_seconds=CPU_SECONDS, nfe=nfe, note=note)
    res["versions"] = versions(a.lib)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
