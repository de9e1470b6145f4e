import pickle, numpy as np, torch, random
from rank_bm25 import BM25Okapi
from agentslm.retrieval.documents import tokenize, tool_document
from agentslm.bench.retrieval import bfcl_tool_pool
d = pickle.load(open("/tmp/exp/data.pkl","rb"))
names=d["names"]; idx={n:i for i,n in enumerate(names)}
T=d["T"]; Qt=d["Qt"]; tr=d["tr"]; Qe=d["Qe"]; ev=d["ev"]
pool=bfcl_tool_pool(); docs=[tool_document(t) for t in pool]
rng=random.Random(1); ids=list(range(len(tr))); rng.shuffle(ids); va=set(ids[:len(ids)//5])
def ranks(s):
    o=np.argsort(-s,kind="stable"); r=np.empty(len(s)); r[o]=np.arange(1,len(s)+1); return r
def build(train_ids):
    ex={}  # tool -> list of train query idx
    for i in train_ids:
        for g in tr[i][2]:
            if g in idx: ex.setdefault(idx[g],[]).append(i)
    corpus=[tokenize(docs[j]+" "+" ".join(tr[i][3] for i in ex.get(j,[]))) or ["_"] for j in range(len(pool))]
    bm_exp=BM25Okapi(corpus); bm=BM25Okapi([tokenize(x) or ["_"] for x in docs])
    return ex,bm,bm_exp
def score(ex,bm,bm_exp,q,qv,variant):
    doc=T@qv
    knn=doc.copy()
    for j,lst in ex.items():
        knn[j]=max(doc[j], float(np.max(Qt[lst]@qv)))
    toks=tokenize(q)
    L=bm.get_scores(toks); LX=bm_exp.get_scores(toks)
    e = knn if "knn" in variant else doc
    l = LX if "lexexp" in variant else L
    w = 2 if "w2" in variant else 1
    return w/(60+ranks(e))+1/(60+ranks(l))
VARS=["base","knn","lexexp","knn+lexexp","knn+w2","knn+lexexp+w2"]
def run(items, qvecs, train_ids, ks=(5,)):
    ex,bm,bm_exp=build(train_ids)
    res={}
    for i,(cat,cid,gold,q) in enumerate(items):
        for v in VARS:
            order=np.argsort(-score(ex,bm,bm_exp,q,qvecs[i],v),kind="stable")
            for k in ks:
                top=set(order[:k])
                for g in gold: res.setdefault((v,k,cat),[]).append(idx[g] in top)
    return res
import sys
if sys.argv[1]=="val":
    vs=sorted(va); res=run([tr[i] for i in vs], Qt[vs], [i for i in range(len(tr)) if i not in va])
    for v in VARS:
        allv=[x for (vv,k,c),l in res.items() if vv==v for x in l]
        print(v, round(np.mean(allv),3), {c:round(np.mean(l),2) for (vv,k,c),l in res.items() if vv==v and c in ("live_multiple","multiple","simple_python","live_simple")})
else:
    res=run(ev,Qe,range(len(tr)),ks=(1,3,5,10))
    for (v,k,c),l in sorted(res.items()): print(v,k,c,round(np.mean(l),3))
