import pickle, numpy as np, torch, random, time, sys
from sentence_transformers import SentenceTransformer
from agentslm.retrieval.retrievers import embedding_model_path, LexicalRetriever
from agentslm.bench.retrieval import bfcl_tool_pool
torch.set_num_threads(2)
d = pickle.load(open("/tmp/exp/data.pkl","rb"))
names=d["names"]; idx={n:i for i,n in enumerate(names)}
T=torch.tensor(d["T"]); tr=d["tr"]; ev=d["ev"]; Le=d["Le"]
pool=bfcl_tool_pool(); lex=LexicalRetriever()
rng=random.Random(1); ids=list(range(len(tr))); rng.shuffle(ids); va=set(ids[:len(ids)//5])
mode=sys.argv[1]
train_ids=[i for i in range(len(tr)) if (mode=="eval" or i not in va)]
pairs=[(tr[i][3], idx[g]) for i in train_ids for g in tr[i][2] if g in idx]
m=SentenceTransformer(str(embedding_model_path()),device="cpu",local_files_only=True)
m.max_seq_length=128
def enc_train(texts):
    f=m.tokenize(texts); return torch.nn.functional.normalize(m(f)["sentence_embedding"],dim=1)
def ranks(s):
    o=np.argsort(-s,kind="stable"); r=np.empty(len(s)); r[o]=np.arange(1,len(s)+1); return r
def evaluate(items, L, tag):
    m.eval()
    with torch.no_grad():
        Q=torch.tensor(m.encode([x[3] for x in items],batch_size=64,normalize_embeddings=True))
    S=(Q@T.T).numpy(); res={}
    for i,(cat,cid,gold,_) in enumerate(items):
        re_=ranks(S[i]); rl=ranks(L[i])
        for f,s in (("emb",-re_),("rrf",1/(60+re_)+1/(60+rl)),("rrf2",2/(60+re_)+1/(60+rl))):
            for k in (1,5):
                top=set(np.argsort(-s,kind="stable")[:k])
                for g in gold: res.setdefault((f,k,cat),[]).append(idx[g] in top)
    for f in ("emb","rrf","rrf2"):
        for k in (1,5):
            allv=[x for (ff,kk,c),l in res.items() if ff==f and kk==k for x in l]
            print(tag,f,k,round(np.mean(allv),3),{c:round(np.mean(l),2) for (ff,kk,c),l in res.items() if ff==f and kk==k and c in ("live_multiple","multiple","simple_python","live_simple")},flush=True)
if mode=="val":
    items=[tr[i] for i in sorted(va)]; L=np.stack([lex.scores(x[3],pool) for x in items])
else:
    items=ev; L=Le
opt=torch.optim.AdamW(m.parameters(),lr=float(sys.argv[2]),weight_decay=0.01)
torch.manual_seed(0); random.seed(0)
for ep in range(int(sys.argv[3])):
    m.train(); random.shuffle(pairs); t0=time.time()
    for b in range(0,len(pairs),32):
        batch=pairs[b:b+32]
        q=enc_train([p[0] for p in batch])
        loss=torch.nn.functional.cross_entropy((q@T.T)/0.05, torch.tensor([p[1] for p in batch]))
        opt.zero_grad(); loss.backward(); opt.step()
    print("epoch",ep,"loss",round(loss.item(),3),"s",round(time.time()-t0),flush=True)
    evaluate(items,L,f"ep{ep}")
