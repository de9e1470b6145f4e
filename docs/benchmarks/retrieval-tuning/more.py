"""Further adapter variants on the validation split (same split as choose.py): doc anchors, temperature, an MLP,
fusion weight 3. `python more.py` prints validation recall@5; `python more.py eval NAME` scores one on the reported sample."""
import pickle, random, sys
import numpy as np, torch
from agentslm.bench.retrieval import bfcl_tool_pool
from agentslm.retrieval.retrievers import LexicalRetriever

torch.set_num_threads(2)
d = pickle.load(open("/tmp/exp/data.pkl", "rb"))
names = d["names"]; idx = {n: i for i, n in enumerate(names)}
T = torch.tensor(d["T"]); Qt = torch.tensor(d["Qt"]); tr = d["tr"]; Qe = torch.tensor(d["Qe"]); ev = d["ev"]; Le = d["Le"]
pool = bfcl_tool_pool(); lex = LexicalRetriever()
rng = random.Random(1); ids = list(range(len(tr))); rng.shuffle(ids); va = set(ids[: len(ids) // 5])

def ranks(s):
    o = np.argsort(-s, kind="stable"); r = np.empty(len(s)); r[o] = np.arange(1, len(s) + 1); return r

class Linear(torch.nn.Module):
    def __init__(self): super().__init__(); self.W = torch.nn.Parameter(torch.zeros(384, 384))
    def forward(self, q): return q + q @ self.W
class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__(); self.a = torch.nn.Linear(384, 768); self.b = torch.nn.Linear(768, 384)
        torch.nn.init.zeros_(self.b.weight); torch.nn.init.zeros_(self.b.bias)
    def forward(self, q): return q + self.b(torch.nn.functional.gelu(self.a(q)))

def train(sel, kind="linear", epochs=30, temp=0.05, anchors=False, seed=0):
    torch.manual_seed(seed)
    Q = [Qt[i] for i in sel for g in tr[i][2] if g in idx]; Y = [idx[g] for i in sel for g in tr[i][2] if g in idx]
    Q = torch.stack(Q); Y = torch.tensor(Y)
    if anchors:  # every tool's own embedding as a request for it: keeps unseen tools where they were
        Q = torch.cat([Q, T]); Y = torch.cat([Y, torch.arange(len(T))])
    m = Linear() if kind == "linear" else MLP()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=1e-2)
    for _ in range(epochs):
        perm = torch.randperm(len(Y))
        for b in range(0, len(Y), 128):
            s = perm[b : b + 128]; q = m(Q[s]); q = q / q.norm(dim=1, keepdim=True)
            loss = torch.nn.functional.cross_entropy((q @ T.T) / temp, Y[s]); opt.zero_grad(); loss.backward(); opt.step()
    return m

def recall(m, Q, L, items, w=2.0, k=5):
    with torch.no_grad():
        q = m(Q); q = q / q.norm(dim=1, keepdim=True); S = (q @ T.T).numpy()
    out = {}
    for i, (cat, cid, gold, _) in enumerate(items):
        s = w / (60 + ranks(S[i])) + 1 / (60 + ranks(L[i]))
        top = set(np.argsort(-s, kind="stable")[:k])
        for g in gold: out.setdefault(cat, []).append(idx[g] in top)
    return np.mean([x for v in out.values() for x in v]), {c: round(float(np.mean(v)), 3) for c, v in out.items()}

VARIANTS = {
    "chosen (linear, T=0.05, ep30, w2)": dict(),
    "anchors": dict(anchors=True),
    "T=0.02": dict(temp=0.02),
    "T=0.1": dict(temp=0.1),
    "mlp": dict(kind="mlp"),
    "mlp+anchors": dict(kind="mlp", anchors=True),
    "w3": dict(w=3.0),
    "anchors+w3": dict(anchors=True, w=3.0),
}
if len(sys.argv) > 2 and sys.argv[1] == "eval":
    cfg = dict(VARIANTS[sys.argv[2]]); w = cfg.pop("w", 2.0)
    m = train(range(len(tr)), **cfg)
    for k in (1, 3, 5, 10): print(sys.argv[2], "k", k, recall(m, Qe, Le, ev, w, k))
else:
    vs = sorted(va); Qv = Qt[vs]; items = [tr[i] for i in vs]
    Lv = np.stack([lex.scores(t[3], pool) for t in items])
    rest = [i for i in range(len(tr)) if i not in va]
    for name, cfg in VARIANTS.items():
        cfg = dict(cfg); w = cfg.pop("w", 2.0)
        m = train(rest, **cfg); mean, per = recall(m, Qv, Lv, items, w)
        print(f"{name}: {mean:.3f}", {c: v for c, v in per.items() if c in ("live_multiple", "multiple", "simple_python", "live_simple")}, flush=True)
