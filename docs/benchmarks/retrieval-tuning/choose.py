import pickle, numpy as np, torch, random
d = pickle.load(open("/tmp/exp/data.pkl","rb"))
names=d["names"]; idx={n:i for i,n in enumerate(names)}
T=torch.tensor(d["T"]); Qt=torch.tensor(d["Qt"]); tr=d["tr"]; Qe=torch.tensor(d["Qe"]); ev=d["ev"]; Le=d["Le"]
from agentslm.retrieval.retrievers import LexicalRetriever
from agentslm.bench.retrieval import bfcl_tool_pool
pool=bfcl_tool_pool(); lex=LexicalRetriever()
rng=random.Random(1); ids=list(range(len(tr))); rng.shuffle(ids)
va=set(ids[:len(ids)//5])
Lt=np.stack([lex.scores(t[3], pool) for t in tr])
def pairs_of(sel):
    return [(i, idx[g]) for i in sel for g in tr[i][2] if g in idx]
def train(pairs, epochs, seed=0, temp=0.05):
    torch.manual_seed(seed)
    qi=torch.tensor([p[0] for p in pairs]); ti=torch.tensor([p[1] for p in pairs])
    W=torch.zeros(384,384,requires_grad=True); opt=torch.optim.AdamW([W],lr=1e-3,weight_decay=1e-2)
    for ep in range(epochs):
        perm=torch.randperm(len(pairs))
        for b in range(0,len(pairs),128):
            sel=perm[b:b+128]; q=Qt[qi[sel]]; q=q+q@W; q=q/q.norm(dim=1,keepdim=True)
            loss=torch.nn.functional.cross_entropy((q@T.T)/temp, ti[sel]); opt.zero_grad(); loss.backward(); opt.step()
    return W.detach()
def ranks(s):
    o=np.argsort(-s,kind="stable"); r=np.empty(len(s)); r[o]=np.arange(1,len(s)+1); return r
def recall(W, Q, L, items, fusion, k=5):
    q=Q+(Q@W if W is not None else 0); q=q/q.norm(dim=1,keepdim=True); S=(q@T.T).numpy()
    B=(Q@T.T).numpy()
    out={}
    for i,(cat,cid,gold,_) in enumerate(items):
        re, rl, rb = ranks(S[i]), ranks(L[i]), ranks(B[i])
        if fusion=="emb": s=-re
        elif fusion=="rrf": s=1/(60+re)+1/(60+rl)
        elif fusion=="rrf2": s=2/(60+re)+1/(60+rl)
        elif fusion=="rrf3": s=1/(60+re)+1/(60+rl)+1/(60+rb)
        top=set(np.argsort(-s,kind="stable")[:k])
        for g in gold: out.setdefault(cat,[]).append(idx[g] in top)
    return {c:np.mean(v) for c,v in out.items()}, np.mean([x for v in out.values() for x in v])
vitems=[tr[i] for i in sorted(va)]; vsel=sorted(va)
Qv=Qt[vsel]; Lv=Lt[vsel]
tpairs=pairs_of([i for i in range(len(tr)) if i not in va])
for f in ("emb","rrf","rrf2","rrf3"):
    print("base", f, round(recall(None,Qv,Lv,vitems,f)[1],3))
for ep in (10,30,100):
    W=train(tpairs,ep)
    for f in ("emb","rrf","rrf2","rrf3"):
        per,m=recall(W,Qv,Lv,vitems,f); print("ep",ep,f,round(m,3), {c:round(v,2) for c,v in per.items() if c in("live_multiple","multiple","simple_python","live_simple")})
print("=== eval")
W=train(pairs_of(range(len(tr))),30)
trg={g for t in tr for g in t[2]}
for f in ("rrf","rrf2","emb"):
  for k in (1,3,5,10):
    per,m=recall(W,Qe,Le,ev,f,k); print(f,k,{c:round(v,3) for c,v in per.items()})
print("base rrf", {k: {c:round(v,3) for c,v in recall(None,Qe,Le,ev,"rrf",k)[0].items()} for k in (1,5)})
print("=== rrf2 ep30 R@5 by whether the gold tool had a training request")
res={}
q=Qe+Qe@W; q=q/q.norm(dim=1,keepdim=True); S=(q@T.T).numpy(); B=(Qe@T.T).numpy()
for i,(cat,cid,gold,_) in enumerate(ev):
    for tag,s in (("tuned",2/(60+ranks(S[i]))+1/(60+ranks(Le[i]))),("base",1/(60+ranks(B[i]))+1/(60+ranks(Le[i])))):
        top=set(np.argsort(-s,kind="stable")[:5])
        for g in gold:
            res.setdefault((tag,cat,"seen" if g in trg else "unseen"),[]).append(idx[g] in top)
for key in sorted(res): print(key, round(float(np.mean(res[key])),3), len(res[key]))
