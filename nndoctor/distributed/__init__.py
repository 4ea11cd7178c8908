"""Many ranks: `nndoctor run CONFIG --nproc N` and `torchrun ... -m nndoctor run CONFIG`.

The set-up runs on N real ranks of torch.distributed (gloo on CPU, NCCL on GPU) for a few steps, and what the
ranks saw and did is compared (codes ND701-ND710). By module:
- `environment`: the rank's place (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), as torchrun sets it;
- `launch`: `--nproc N` itself: a store on a free port of 127.0.0.1, N child ranks, nothing left behind;
- `group`: the process group with nndoctor's own short timeout, and the store's bounded exchanges between ranks;
- `evidence`: what one rank measured and how the exchange went (plain dataclasses, JSON through the store);
- `measure`: fingerprints of batches, samplers, parameters and gradients on one rank;
- `context`: what the ND7xx checks judge (the evidence of every rank);
- `driver`: one rank's whole run; rank 0 merges one report.
"""
