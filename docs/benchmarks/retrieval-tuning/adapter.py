import pickle, numpy as np, torch, sys
d = pickle.load(open("/tmp/exp/data.pkl","rb"))
names=d["names"]; idx={n:i for i,n in enumerate(names)}
T=torch.tensor(d["T"]); Qe=torch.tensor(d["Qe"]); Qt=torch.tensor(d["Qt"]); Le=d["Le"]
ev=d["ev"]; tr=d["tr"]
strict = len(sys.argv)>1 and sys.argv[1]=="strict"
evgold = {g for e in ev for g in e[2]}
pairs=[]
for i,(cat,cid,gold,q) in enumerate(tr):
    if strict and any(g in evgold for g in gold): continue
    for g in gold:
        if g in idx: pairs.append((i, idx[g]))
print("pairs", len(pairs), "strict", strict)
trgold = {names[j] for _,j in pairs}
qi=torch.tensor([p[0] for p in pairs]); ti=torch.tensor([p[1] for p in pairs])
def rrf(s):
    o=np.argsort(-s,kind="stable"); r=np.empty(len(s)); r[o]=np.arange(1,len(s)+1); return 1/(60+r)
def evaluate(W, tag):
    with torch.no_grad():
        q = Qe + (Qe@W if W is not None else 0); q = q/q.norm(dim=1,keepdim=True)
        S=(q@T.T).numpy()
    res={}
    for kind in ("emb","hyb"):
        for i,(cat,cid,gold,_) in enumerate(ev):
            s = S[i] if kind=="emb" else rrf(S[i])+rrf(Le[i])
            top=set(np.argsort(-s,kind="stable")[:5])
            for g in gold:
                seen = "seen" if g in trgold else "unseen"
                for key in ((kind,cat),(kind,cat,seen)):
                    res.setdefault(key,[]).append(idx[g] in top)
    out=[]
    for key in sorted(res):
        v=res[key]; out.append(f"{'/'.join(key)}={np.mean(v):.3f}({len(v)})")
    print(tag, " ".join(out))
evaluate(None,"base")
for wd in (1e-3, 1e-2):
  for epochs in (30, 100):
    torch.manual_seed(0)
    W=torch.zeros(384,384,requires_grad=True)
    opt=torch.optim.AdamW([W],lr=1e-3,weight_decay=wd)
    for ep in range(epochs):
        perm=torch.randperm(len(pairs))
        for b in range(0,len(pairs),128):
            sel=perm[b:b+128]
            q=Qt[qi[sel]]; q=q+q@W; q=q/q.norm(dim=1,keepdim=True)
            logits=(q@T.T)/0.05
            loss=torch.nn.functional.cross_entropy(logits, ti[sel])
            opt.zero_grad(); loss.backward(); opt.step()
    evaluate(W.detach(), f"wd={wd} ep={epochs} loss={loss.item():.3f}")
