"""The latency model on nets from outside the search space (issue 21's
benchmark).

    python bench/latency_foreign.py [--precisions=int8,float32]
                                    [--workdir=runs/latency_foreign]

For each precision (host runner: LiteRT, 1 thread, XNNPACK):

1. builds (or resumes) the `proxyless_small` table with its calibration
   terms and the single-op probes (`pxnas latency build --probes`), timed;
2. validates it (`pxnas_tf.latency.build.validation.validate`) on 30 random
   archs of the space, the zoo nets, the 14 default `keras.applications`
   nets (`foreign_nets.DEFAULT_NETS`, the test set) and the 7 tuning nets
   (`foreign_nets.TUNING_NETS`, kept apart for choosing between model
   variants), each converted and measured whole with the table's pass rule;
3. measures every op of a few nets alone (`--isolate`) and compares the sum
   with the net measured whole: how much of the error is the op model's
   fit and how much is what running inside a net adds;
4. writes docs/benchmarks/latency_foreign.md: per group and family MAPE,
   share within 10 percent and Kendall tau, every foreign net's prediction and
   measurement, against the issue's goals, and the scatter plots
   docs/benchmarks/latency_foreign_<precision>.png.

Everything resumes: the table and the measured nets are saved as they come.
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import sys
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
GOALS = {"mape": 0.05, "within_10pct": 0.95, "kendall_tau": 0.95, "foreign_within_10pct": 0.90}
# What the figures say, written by hand after the run of 2026-12-05 (update
# it with the figures when the model changes).
FINDINGS = """### Fifth round: small-map context groups (2026-12-06, night, AMD EPYC VM)

Both tables above are fresh builds by this round's code (int8
19:09-19:27, float32 19:37-19:52), every net measured whole within 15
minutes after its table's build.

- **What was wrong.** The int8 zoo nets at 28x28 end on 1x1 maps
  (1x1x256 k7_e6 blocks: 9-10 MB of XNNPACK buffers each), a map the
  space's table never reaches. Their context term borrowed the nearest
  group's calibration, the 4x4x96 block's, whose chains of 8 copies
  (31 MB) sit at the knee of the 32 MB last-level cache: the most
  volatile point of the machine. Over 8 rounds in 4 minutes these chains
  took 2.80-3.15 ms, the fresh fourth-round build's 2.73-2.94 ms, an
  earlier one's 2.52-2.69 ms.
- **Measured directly**: chains of 1x1 blocks, int8, at 19:04 (copies 1,
  2, 3, 4, 6, 8; lowest of 4 rounds). 1x1x256 k7_e6: 0.103 ms alone;
  extra per copy 0.055 / 0.155 / 0.182 / 0.183 / 0.175 ms with 11-77 MB
  of other memory: saturated from about 30 MB at 0.18 ms, 0.020 ms per MB
  of buffers with streaming. 1x1x192 k7_e6 and 1x1x256 k7_e3 saturate at
  the same 0.020 ms per MB. Net of streaming that is about a third of the
  4x4 group's rate (0.0066-0.0077 against 0.021-0.027 ms per MB).
- **The change**: every table with a buffer-heavy key also calibrates,
  for each kernel and expand ratio of its heavy keys, the residual block
  at 1x1x256 (its memory recorded, its chains timed; no entry of its
  own). It adds 2 groups here, about 45 s of a build. A tie between two
  equally near groups now goes to the larger map.
- **Effect on the same measurements** (this round's tables, the small-map
  groups removed for the old rule): int8 proxyless_gpu +53.6% -> +5.0%,
  proxyless_mobile +28.2% -> +1.2%, proxyless_mobile_14 +33.6% -> +3.0%;
  float32 -17.6 / -1.2 / -20.9% -> -14.4 / +0.9 / -17.4% (float32's
  buffers are small: its context term is under 0.01 ms on every zoo net).
- **int8: every goal met**: random archs + test nets 3.7% / 98% / 0.97;
  foreign nets with the zoo 95% (18 of 19; mobilenetv2_a1.4@32 -11.3%,
  its passes 10% apart).
- **float32: one goal short**: the foreign nets with the zoo at 89% (17
  of 19): proxyless_gpu -14.4% and proxyless_mobile_14 -17.4%. These two
  were under-predicted in all three float32 measurements of the day (-9
  / -12%, -9 / -14%, now -14 / -17%); this time their measured times
  were 8-9% above the fourth round's while their predictions barely
  moved, and the float32 nets' passes lay far apart (efficientnetb0@32
  119%, mobilenetv2_a1.4@32 43%): the machine was busy. What they lack is
  not the context term: the float32 chains of their 1x1 blocks cost no
  more than their streaming term. Nor the streaming curve's straight
  lines between its samples: float32 chains timed at 20:27 at 25-50 MB
  lie on them (40.1 MB: 0.357 ms extra, against 0.367 interpolated from
  that hour's 33.6 and 67.2 MB samples).
- **Build time**: int8 17.5 min, float32 15.1 min (the goal: 15). From
  the model files' times, int8: keys 6.4 min, streaming 0.7, footprints
  0.2, context chains 3.3 (10 groups), in-net nets 7.0 (converting 1.7,
  timing 80 nets in 233 passes 5.3). The in-net stage is the largest.
  Tried offline on the int8 table: the in-net factors fit on 48 + 16 or
  32 + 8 of the 64 + 16 nets keep every net within 10% but raise the
  test + tuning MAPE from 2.7% to 4.1-4.2%; not adopted. Nor is one pass
  per net instead of the pass rule (on this round's and the fourth
  round's tables, test + tuning MAPE int8 2.7% -> 4.8% and 2.9% -> 3.0%,
  float32 4.3% -> 5.5% and 5.3% -> 6.7%, float32 within 10% 90% -> 71%
  on the fourth round's).

### Fourth round: fused pads, half-tile products, per-kernel depthwise probes, one memory term (2026-12-06, evening, AMD EPYC VM)

Both tables above are fresh builds by this round's code (`pxnas latency
build --space=proxyless_small --threads=1 --probes`, float32 16:38-16:54,
int8 17:14-17:29), and every net was measured whole within 20 minutes
after its table's build.

- **Build time**: float32 15.8 min, of which 5.5 waiting for a quiet
  machine; int8 15.2 min, 5.0 waiting (the goal: 15). The work itself
  took 10.3 and 10.1 min; the second round's builds took 14.3 and 11.5
  min with 4.6 and 4.1 waiting. This round adds 12 depthwise probes,
  and the int8 work grew by about 3 min; where those minutes went was
  not broken down.

Each change
was found by timing the ops of a mispredicted net alone:

- **A zero PAD that feeds a conv costs nothing.** XNNPACK fuses it into
  the conv: PAD 32x32x48 -> 34x34x48 + valid 5x5 stride-2 depthwise conv
  8.5 / 9.3 us (int8 / float32), the conv with "same" padding 8.5 / 9.2
  us, the PAD alone 11 / 12 us (also at 16x16x96 k3 and 2x2x768 k7). The
  op model charged every stride-2 block and stem a PAD that never runs
  (`ops.costed`). int8 zoo mobilenet_v2 +11.6% -> +1.5%, proxyless_cpu
  +9.3% -> +1.4% (same measurements).
- **float32 one-pixel products in half tiles.** A 1024-input dense layer
  with 960, 992, 1016, 1024 or 1056 outputs: 43-48 us; with 976, 1000,
  1008 or 1040: 67-73 us (640 inputs: 256 or 288 outputs 5-6 us; 240, 264
  or 272: 9-10 us). Output channels 1-16 over a multiple of 32 run at
  about half the rate at one pixel (10-20% more at 2x2 and beyond; no
  step in int8). MobileNetV3's 1024 -> 1000 head is one: 65 us alone,
  38 us predicted. New feature `weights_half32` (gemv and fc): float32
  test nets 4.5% -> 3.7% MAPE, tuning nets 71% -> 100% within 10%, the
  MobileNetV3Small family from -10..-12% to -3..+6%.
- **Scalar ADD / MUL probes add a Rescaling's constant.** The fresh int8
  table's 128x128x1 ADD of a random constant ran 34 us in four passes; with
  other draws 1.1-1.3 us: a constant of a few thousandths quantizes to a
  scale that sends the int8 ADD to another kernel. The probes now add -1
  and multiply by 1/127.5 (`block_models.SCALAR_OPERAND`), as
  keras.applications' preprocessing does. MobileNetV3Small's int8
  Rescaling ADD: 9.2 us predicted against 3.9 alone before, 3.8 after.
- **8 depthwise probes per kernel and stride, half at maps of 1-5
  pixels.** The old draw of 36 over all six groups left 7x7 stride 2 with
  2 probes for its 6 coefficients; the zoo nets' 7x7 stride-2 blocks at
  2x2 -> 1x1 were predicted at 1.7x their time alone. Leave-one-out
  error of the op model (with the PAD rule): int8 59% -> 34%, float32
  134% -> 59%.
- **One memory term: a net streams its layers' buffers too.** The 7x7
  blocks of the zoo nets make XNNPACK hold buffers far beyond their
  weights (resident memory of the 1x1x256 e6 k7 block: float32 8.2 MB for
  3.5 MB of weights, int8 10.8 MB for 0.9 MB; the same block with a 5x5
  kernel: 3.4 and 1.0 MB). The streaming footprint now counts them
  (recorded per key, estimated for keys the table never ran), and the
  context term is fitted net of its chains' streaming term (format v2; a
  v1 record is fitted again from its chains' times on load, no
  measuring). Zoo nets, against the rule before (same tables; the second
  round's measurement / this round's): int8 6.7% / 8.8% -> 6.1% / 5.6%
  MAPE, float32 13.6% / 16.7% -> 6.4% / 8.9%; float32 proxyless_gpu
  -20% / -26% -> -2% / -9%, proxyless_mobile_14 -27% / -31% -> -8% /
  -14%. The space's random archs moved by 0.1 point at most.
- **A probe far off the fit gets passes until two agree**
  (`probes.suspect_probes`: more than 2x off the op model fit on the whole
  table). On these tables it flagged 2 (int8) and 1 (float32) probes,
  whose second passes confirmed them (the 34 us ADD was real for its
  model); it guards against a pass that a busy machine slowed as a whole.

Where it stands: the fresh tables above, and as a second check the
second round's tables completed by this round's probes (65 / 63 new
measurements), with every net measured at 16:20:

| tables | precision | random archs + test: MAPE / within 10% / tau | test nets | tuning nets | zoo | test + zoo |
|---|---|---|---|---|---|---|
| fresh (above) | int8 | 3.1% / 100% / 0.99 | 3.4% / 100% | 2.0% / 100% | 18.0% / 40% | 7.2% / 84% |
| fresh (above) | float32 | 2.4% / 100% / 0.98 | 4.5% / 100% | 6.9% / 71% | 7.7% / 60% | 5.4% / 89% |
| second round's, completed | int8 | 2.9% / 95% / 0.99 | 3.2% / 100% | 2.1% / 100% | 5.6% / 80% | 3.9% / 95% |
| second round's, completed | float32 | 2.5% / 98% / 0.98 | 3.9% / 93% | 5.4% / 86% | 8.9% / 60% | 5.2% / 84% |

- The goals on random archs + test nets hold in every row. The foreign
  nets with the zoo (goal 90%) reach it in one row of four (int8 95%);
  the fresh tables miss it by one net (float32 89%) and two (int8 84%).
- **The zoo nets with 7x7 blocks are where the rows disagree.** int8
  proxyless_gpu is predicted at 1.45 ms by the completed table and 1.66
  ms by the fresh one: the fresh build's chains of the k7_e6_4x4 block ran
  2.73 ms for 8 copies against 2.52 ms (8% slower), and the context term,
  fitted on the per-copy extra (a difference of large times), rose from
  0.52 to 0.72 ms. The net itself ran 1.18 ms after the fresh build and
  1.29 ms an hour before.
- **The nets that miss are those whose whole-net time is not
  reproducible on this VM.** Passes minutes apart (the column "passes'
  spread"): float32 proxyless_mobile 0.725, 0.602, 0.507, 0.580 ms;
  proxyless_gpu 1.28, 1.13, 1.01, 1.09 ms; proxyless_mobile_14 1.28,
  1.17, 1.07, 1.24 ms. Between measurements: int8 proxyless_mobile 0.758,
  0.861, 0.958 and 0.836 ms (four measurements of one day); float32
  mobilenet_a1.0@64 0.564 -> 0.644 ms (+14%) in an hour. Over all 56
  nets the median moved +2.3% (int8) and +1.7% (float32) in that hour; 7
  int8 and 2 float32 nets moved by more than 10%, among them 6 int8
  random archs of the space (+12 to +15%). The zoo nets with 7x7
  blocks touch 25-40 MB per invoke with their buffers (int8 and
  float32), around the 32 MB last-level cache, at the knee of the
  streaming curve, which moves with the VM's neighbours: chains of 1x1 convs
  measured today cost 0.036 ms extra at 16.8 MB and 0.36 ms at 33.6 MB,
  against 0.018 and 0.247 ms at the table's build.
- What the model still misses beyond that: the op model over-predicts
  float32 proxyless_cpu's blocks by about 10% (its blocks alone sum to
  1.02 of the whole net, the prediction to 1.12), and 3-channel stems by
  10-35% in float32 (cnn@32, cnn@64 at +10%); giving 3-channel stems
  their own group did not help (tried, reverted). int8 proxyless_gpu is
  over-predicted by 13-19% with the completed table's context term, 40%
  with the fresh one's.

### A fresh build in 12-14 minutes (2026-12-06, second round, AMD EPYC VM)

Both tables above were built from scratch by this round's code
(`pxnas latency build --probes`, one after the other), and every net was
measured whole the same afternoon, after the builds (the ops-alone table
reuses the ops timed in the morning; the morning's report is in
history.md).

- **Build time**: int8 11.5 min, float32 14.3 min (the issue's goal: 15).
  Of these, 4.1 and 4.6 min were spent waiting for a quiet machine (the
  runner redoes rounds while other processes use the CPUs; this VM is
  shared). The same int8 build by the previous code took 22.5 min that
  day (9.7 min waiting): 12.8 min of work against 7.3 now.
- What was cut: the per-invoke overhead was timed on an identity model
  per input shape, 208 shapes (the probes have 200), all within
  0.33-0.37 us; it is now timed for the space's input shapes and 4 of
  the probes' (smallest to largest; the others interpolated in log
  size): about 430 measurements fewer. A kernel probe settles on one
  clean pass (`--probe_passes`, default 1; the space's keys keep two
  passes that agree): about 330 fewer. Models and random nets convert in
  one worker process per core (`convert_pool`): 110 s -> 46 s for the
  block models, about 160 s -> 88 s for the 80 nets.
- **Accuracy of the fresh tables** (nets measured the same day): the
  goals on random archs + test nets hold for both precisions (int8 4.1%,
  98%, tau 0.96; float32 3.8%, 98%, 0.98), the test nets alone at 93%.
  The tuning nets: int8 100%, float32 71% within 10% (the earlier tables:
  100% and 57%). The space's random archs are at 3.7% / 3.5% MAPE
  against 1.5% / 1.3% for the earlier tables, over-predicted by +2.4% /
  +3.5% on average: their keys were timed 1.7-2.7% slower (median) than
  in the earlier build, with the same two-pass rule, while the nets were
  timed in a quieter hour. Single-pass probes sit 3% (int8) and 5%
  (float32) above the earlier two-pass ones at the median, 1-2 points
  more than the keys' drift; the in-net factors absorb it (the test nets'
  MAPE: int8 3.6% -> 5.1%, float32 4.7% -> 4.5%).
- **The zoo nets with 7x7 blocks are not stable enough on this VM to be
  predicted within 10%**: measured whole in two sessions of the same day,
  int8 proxyless_mobile ran 0.758 and 0.861 ms (+14%); float32
  proxyless_gpu, proxyless_mobile and proxyless_mobile_14 ran 14-16%
  faster in the second (1.086 -> 0.933, 0.577 -> 0.493, 1.195 -> 1.004
  ms); the other zoo nets moved 1-5%. With the foreign nets they make
  84% within 10% for both precisions (int8 zoo: +15, -2, -5% on gpu /
  mobile / mobile_14; float32: -20, -3, -24%).
- Where their time goes (each block timed alone, `/work/scratch` script
  on the earlier tables): the blocks alone sum to 0.42-0.70 of the whole
  net in both precisions (float32 proxyless_gpu: 0.62 ms alone, 1.09 ms
  whole); the op model's sum over the blocks is within 6% of theirs
  alone in float32 and 19% above it in int8.
  So the loss is in the net: their k7_e6 blocks at 1x1 and 2x2 maps hold
  an estimated 13-35 MB of XNNPACK buffers beyond the weights, which the
  streaming footprint F (weights + written tensors) leaves out. Counting
  them in F gives the float32 nets 0.10-0.27 ms of streaming where
  0.15-0.56 ms is missing, but would charge the int8 nets twice (their
  context term already prices those buffers). One memory term for
  weights, activations and buffers is the next step.
- Tried, not adopted: calibrating the context groups of the 7x7 blocks at
  the maps below the space's (2x2 and 1x1, chains of the 4x4 key's block
  at those maps). Chains of 8 such blocks lose only 0-12% per copy
  (float32 1x1x96 e6: 0.034 -> 0.038 ms), far less than the zoo nets'
  1x1x256 blocks lose, and the int8 zoo nets went to -18 / -24 / -28%.

### What changed before, what limits it (2026-12-06, first rounds)

On the 14 `keras.applications` test nets both precisions met every goal
with the earlier tables. int8: 3.6% MAPE, 93% within 10% (13 of 14), tau 0.98;
with the random archs 2.1%, 98%, 0.98. float32: 4.7%, 93%, 0.98; with the
random archs 2.4%, 98%, 0.99. The tuning nets: int8 100% within 10%,
float32 57% (3 of 7 at -12 to +11%). Counted with the 5 zoo nets at
28x28, the foreign nets were at 84% (int8) and 74% (float32) within 10%.

The first round of the day (history.md) had int8 at 71% and float32 at
50%. Each change below was found by timing every op of a net alone. Each
figure is the test nets' MAPE / share within 10%; every choice between
variants was made on the tuning nets.

- **Same-shape ADD / MUL probes of two activations.** A MUL probe
  multiplied its input by a constant tensor of its own shape. int8 XNNPACK
  runs that about 4x slower than a MUL of two activations, which is what
  nets run (32x32x96 int8: 17.4 us against 4.3 us for x * x; float32
  9.7 us against 4.0 us). The probes now time x (+|*) x. Tables of probe
  set 3 measure those 15 keys again (`probes.outdated_probe_keys`).
- **swish as one op.** A Keras `swish` converts to LOGISTIC + MUL of x by
  sigmoid(x). int8 XNNPACK runs the pair in the time of the LOGISTIC alone
  (32x32x96: 4.3 us for the sigmoid, 4.3 us for the swish). float32 pays
  for both (10.2 + 4.0 us; 18.8 us as a pair). The TFLite reader now turns
  the pattern into one `swish` op, with 10 probes of its own.
  EfficientNetB0 was predicted at +23 to +35% in int8; it is now within
  -6 to +4%. With the probe fix above: int8 10.4% / 71% -> 10.0% / 71%.
- **1x1 convs at 1 to 4 pixels are their own group (`gemv`).** These are
  the squeeze-and-excitation convs and a net's last stages at a small
  input. Each weight is used once or a few times, so the op reads more
  than it computes. The op model fit them with the other 1x1 convs and
  predicted them at 1.3-2x their time alone (int8 1344 -> 448 at 1x1:
  7.2 us predicted, 2.8 us alone). There are now 24 probes (1x1 and 2x2
  maps), plus 8 more fc and 6 more global-pool probes: int8 10.0% / 71% ->
  5.8% / 86%.
- **The streaming term reads the footprint above the in-cache rate.**
  A net's footprint F is its weights plus every tensor it writes:
  streaming(F) = max(0, curve(F) - F * curve(L) / L), L = half the
  last-level cache. Timed alone, the ops of int8 nets with 4-6 MB of
  weights sum to within 1-7% of the whole net, so these nets pay nothing
  for streaming from L3: their compute hides it. The chain curve charged
  them 0.01-0.02 ms each, 10-20% of such a net. Past the LLC the chain's
  slope rises about tenfold, and nets pay that part. int8 5.8% / 86% ->
  3.6% / 93%; float32 11.5% / 50% -> 10.7% / 50%. The space's own nets,
  predicted by the same rule, stay at 1.3-1.5% MAPE.
- **16 large random nets and a footprint factor (float32).** The in-net
  nets reached 16 MB of float32 footprint, and only 4 of 64 passed 12 MB,
  so nothing could be fit where the float32 nets lose speed. The build now
  also times 16 random nets as large as the keras.applications nets
  (seeds from 2000: 12 to 28 blocks, at most 1280 channels, 3x3 and 5x5
  depthwise only). Without any change to the model, float32 ones run
  slower than predicted by a share that grows with F: -2 to -3% at 8-9 MB,
  -7 to -11% at 10-12 MB, -13 to -18% at 16-18 MB, -21 to -23% at 28-31
  MB. A net's ops, after their family factors, are now scaled by
  1 + s * max(0, F - LLC / 4), with s fit to all random nets
  (`footprint_factor`; float32 0.88% a MB past 8.4 MB). The slope needs 4
  nets past the threshold; int8 has one, so its s is 0. The family factors
  stay fit to the 64 small nets. Fitting them to all 80 took float32 to
  93% within 10% but int8 down to 79% (the int8 large nets run 3-8% slower
  than predicted, the applications nets do not); on the tuning nets of
  both precisions the small-net fit was better (MAPE 3.5% + 8.8% against
  8.3% + 7.7%). The threshold LLC / 4 was chosen on the tuning nets among
  LLC / 8 to LLC / 2. float32 10.7% / 50% -> 5.9% / 79%, tuning nets
  14.5% / 29% -> 8.8% / 57%; int8 unchanged.
- **Weights past L2 (float32 gemv and fc).** float32 MobileNetV3's
  squeeze-and-excitation convs and its 1024 -> 1000 head were predicted
  at 0.6 of their time alone: their weights (up to 4 MB) outgrow L2, where
  the probes' mostly do not, and a cost linear in the weights cannot
  follow that kink. gemv and fc ops now have a feature of their own for
  the weights past L2 (L2 bytes / bytes per weight). The threshold L2 was
  chosen on the tuning nets against L2 / 2 and none (float32 tuning MAPE
  7.6%, 8.1%, 8.8%). float32 5.9% / 79% -> 4.7% / 93%; int8 unchanged
  (no int8 op holds 1 M weights).
- **Zoo nets with 7x7 depthwise convs** (proxyless_gpu, proxyless_mobile,
  proxyless_mobile_14 at 28x28) ran about twice their prediction: int8
  -40 to -50%, float32 -25 to -43%. XNNPACK holds megabytes of buffers
  for an int8 7x7 depthwise op. The context term prices that for table
  keys, but these blocks are not table keys, so they had no recorded
  footprint and got no term. Now a block the table never ran gets
  estimated buffers, from a fit per kernel over the table's own MBConv
  footprints (int8 7x7: about 100 KB + 5.8 KB a hidden channel, within 5%
  of the records at the median). It is priced with the calibration of the
  group of its kernel and expand ratio whose map size is nearest. int8 zoo
  nets: -50 / -40 / -50% -> +21 / +13 / -0%; float32 -39 / -25 / -43% ->
  -33 / -19 / -39%.

Tried, not adopted (each worse on the tuning nets, or no better):

- A context term for the depthwise ops of nets read from TFLite (int8
  tuning 3.5% -> 4.6% MAPE, test 93% -> 79% within 10%).
- An in-net factor of their own for 7x7 depthwise ops (fits to 1.0).
- A roofline term for gemv and fc ops (float32 tuning 14.5% -> 12.5%, test
  50% -> 57%, before the large nets; a second mechanism for the same
  effect as the footprint factor).
- Random large nets with 7x7 depthwise convs and regular kxk convs: int8
  ones were under-predicted by up to 55% (the 7x7 case above), so they
  said nothing about the footprint.

What limits it:

- **float32 MobileNetV3 and wide MobileNetV2 at large inputs (-7 to
  -14%)**, and the tuning nets at 57% within 10%: the float32 op model's
  fit error on its probes is 21% (int8 26%), with a leave-one-out error
  far above it; more probes per group, or a cost that is not linear in
  its features, are the next steps.
- **float32 zoo nets with 7x7 depthwise convs (-19 to -39%).** Their
  context calibrations are smaller than int8's, and what is left looks
  like the footprint effect at shapes the random nets do not hold.
- **Build time** (then): the int8 table with probes took 27 min plus 4.5 min for
  the last 40 random nets, and float32 23 min (see above for now).
"""


def define_flags() -> None:
    flags.DEFINE_list("precisions", ["int8", "float32"], "Table precisions.")
    flags.DEFINE_string("workdir", os.path.join(ROOT, "runs", "latency_foreign"), "Run folder.")
    flags.DEFINE_integer("num_archs", 30, "Random archs of the space.")
    flags.DEFINE_string("out", os.path.join(ROOT, "docs", "benchmarks", "latency_foreign.md"),
                        "Report.")
    flags.DEFINE_list("isolate", ["mobilenetv2_a0.5@96", "mobilenetv3small@96",
                                  "efficientnetb0@64", "cnn@32", "mobilenetv2_a1.4@32",
                                  "mobilenet_a1.0@64", "mobilenetv3large@64"],
                      "Nets whose every op is also measured alone (a table of their ops).")
    flags.DEFINE_boolean("findings", True, "Append the hand-written findings (FINDINGS).")


def run_precision(precision: str) -> dict:
    from pxnas_tf.latency.build.builder import build_table
    from pxnas_tf.latency.build.foreign_nets import DEFAULT_NETS, TUNING_NETS
    from pxnas_tf.latency.build.validation import validate
    from pxnas_tf.latency.measure.host_runner import HostRunner
    from pxnas_tf.latency.model import metrics
    from pxnas_tf.latency.model.op_model import fit_table, in_net_nets, op_model_path
    from pxnas_tf.latency.model.table import load_table
    from pxnas_tf.search_space import load_space

    space = load_space("proxyless_small")
    path = os.path.join(FLAGS.workdir, f"{precision}.json")
    os.makedirs(FLAGS.workdir, exist_ok=True)
    runner = HostRunner(threads=1)
    t0 = time.monotonic()
    report = build_table(space, runner, path, precision, probes=True)
    build_s = time.monotonic() - t0
    build_waited_s = runner.waited_s
    table = load_table(path)
    op_model = fit_table(table)
    op_model.save(op_model_path(path))
    rep = validate(table, path, runner, space, FLAGS.num_archs, zoo=True, op_model=op_model,
                   nets=list(DEFAULT_NETS) + list(TUNING_NETS))
    rows = rep.results

    def summary(subset):
        return metrics.summary([r.predicted_ms for r in subset], [r.measured_ms for r in subset])

    test = [r for r in rows if r.name in DEFAULT_NETS]
    tuning = [r for r in rows if r.name in TUNING_NETS]
    main = [r for r in rows if r.name not in TUNING_NETS and r.group != "zoo"]
    isolated = isolation(precision, path, runner, {r.name: r for r in rows})
    png = os.path.join(os.path.dirname(FLAGS.out), f"latency_foreign_{precision}.png")
    shutil.copyfile(rep.plot, png)
    return {"precision": precision, "table": path, "entries": len(table),
            "build_measured": report.measured, "build_s": build_s,
            "build_stages": report.stages_s, "build_waited_s": build_waited_s,
            "op_model": {"fit": op_model.fit_rel_rmse, "loo": op_model.loo_rel_rmse},
            "in_net": len(in_net_nets(table)), "factors": op_model.in_net,
            "ridge": op_model.in_net_ridge,
            "all": summary(main), "foreign": summary(test), "tuning": summary(tuning),
            "space": summary([r for r in rows if r.group == "space"]),
            "zoo": summary([r for r in rows if r.group == "zoo"]),
            "by_group": rep.by_group,
            "test_zoo": summary(test + [r for r in rows if r.group == "zoo"]),
            "nets": [(r.name, r.group, r.predicted_ms, r.measured_ms, _spread(r.runs))
                     for r in test + tuning + [r for r in rows if r.group == "zoo"]],
            "isolated": isolated, "png": os.path.basename(png)}


def _stages(r: dict) -> str:
    """The build's stages and its waiting for a quiet machine, in minutes."""
    stages = r.get("build_stages") or {}
    if not stages:
        return ""
    return (": " + ", ".join(f"{name} {s / 60:.1f}" for name, s in stages.items())
            + f"; {r.get('build_waited_s', 0.0) / 60:.1f} of it waiting for a quiet machine")


def _spread(runs) -> float:
    """How far a net's slowest pass lies above its fastest (its passes run
    minutes apart)."""
    return max(runs) / min(runs) - 1 if runs else 0.0


def isolation(precision: str, table_path: str, runner, measured: dict) -> list[dict]:
    """Every op of the `--isolate` nets measured alone (a table of single-op
    keys, resumable) against the net measured whole."""
    import glob

    from pxnas_tf.latency.build import tflite_ops, validation
    from pxnas_tf.latency.build.builder import build_table, default_models_dir
    from pxnas_tf.latency.build.settings import BuildSettings
    from pxnas_tf.latency.model.ops import op_key
    from pxnas_tf.search_space import load_space

    folder = os.path.join(default_models_dir(table_path, precision), "nets")
    ops = {}
    for spec in FLAGS.isolate:
        (path,) = glob.glob(os.path.join(folder, validation._safe(spec) + "-*.tflite"))
        with open(path, "rb") as f:
            ops[spec] = tflite_ops.ops_of_tflite(f.read())
    keys = list(dict.fromkeys(op_key(op) for net in ops.values() for op in net))
    report = build_table(load_space("proxyless_small"), runner,
                         os.path.join(FLAGS.workdir, f"isolated_{precision}.json"), precision,
                         BuildSettings(weight_streaming=False, footprint=False, context=False),
                         keys=keys, progress=False)
    table = report.table
    overhead = min(float(v) for v in table.metadata.overhead["ms"].values())
    out = []
    for spec, net in ops.items():
        by_type = {}
        for op in net:
            by_type[op.type] = by_type.get(op.type, 0.0) + table.value(op_key(op), "median")
        total = sum(by_type.values()) + overhead
        out.append({"net": spec, "ops": len(net), "sum_ms": total,
                    "whole_ms": measured[spec].measured_ms,
                    "predicted_ms": measured[spec].predicted_ms,
                    "top": sorted(by_type.items(), key=lambda kv: -kv[1])[:3]})
    return out


def _fmt(s: dict) -> str:
    return (f"MAPE {s['mape']:.1%}, {s['within_10pct']:.0%} within 10%, "
            f"Kendall tau {s['kendall_tau']:.2f} ({s['n']} nets)")


def write_report(results: list[dict], command: str) -> None:
    from pxnas_tf import fileio
    from pxnas_tf.latency.measure.host_runner import cpu_description

    lines = ["## Latency of nets outside the space", "",
             f"Date: {datetime.date.today().isoformat()}. Command: `{command}`.", "",
             f"Machine: {cpu_description()}, {platform.platform()}, Python "
             f"{platform.python_version()}; LiteRT on the host, 1 thread, XNNPACK.", "",
             "Each table is `proxyless_small`'s with its calibration terms and the single-op "
             "probes (`pxnas latency build --probes`). Nets outside the space are converted "
             "at the table's precision and predicted from the ops of their TFLite graph "
             "(`predict_ops`: op model x in-net factors + per-invoke overhead + weight "
             "streaming curve); the op model is fit on the space's blocks and the "
             "probes, its in-net factors on random mobile nets timed whole (`in_net`). The 14 "
             "default `keras.applications` nets are the test set; the 7 tuning nets were "
             "kept apart for choosing between model variants. Goals (issue 21): over the "
             "foreign and random nets MAPE <= 5%, >= 95% within 10%, tau >= 0.95; the "
             "foreign nets alone >= 90% within 10%.", ""]
    for r in results:
        ok = lambda v, goal, low=False: "met" if (v <= goal if low else v >= goal) else "NOT met"
        a, f = r["all"], r["foreign"]
        lines += [f"### {r['precision']}", "",
                  f"- Table: {r['entries']} entries ({r['build_measured']} measurements this "
                  f"run, {r['build_s'] / 60:.1f} min" + _stages(r) + "); op model fit error "
                  f"{r['op_model']['fit']:.1%}, "
                  f"leave-one-out {r['op_model']['loo']:.1%}; "
                  f"in-net factors fit on {r.get('in_net', 0)} random mobile nets timed whole "
                  f"(ridge {r.get('ridge', 0):g}): " + (", ".join(
                      f"{k} {v:.2f}" for k, v in sorted(r.get("factors", {}).items())
                      if abs(v - 1) >= 0.05) or "none departs from 1 by 5% or more") + ".",
                  f"- Random archs of the space: {_fmt(r['space'])}.",
                  f"- Test set (14 foreign nets): {_fmt(f)}: within-10% goal "
                  f"{ok(f['within_10pct'], GOALS['foreign_within_10pct'])}.",
                  f"- Random archs + test set: {_fmt(a)}: MAPE {ok(a['mape'], GOALS['mape'], True)}"
                  f", within 10% {ok(a['within_10pct'], GOALS['within_10pct'])}, tau "
                  f"{ok(a['kendall_tau'], GOALS['kendall_tau'])}.",
                  f"- Tuning nets: {_fmt(r['tuning'])}.",
                  f"- Zoo nets at 28x28 (table layers + op model + context): {_fmt(r['zoo'])}.",
                  f"- Foreign nets (test set + zoo): {_fmt(r['test_zoo'])}: within-10% goal "
                  f"{ok(r['test_zoo']['within_10pct'], GOALS['foreign_within_10pct'])}.",
                  "", "Measured: the lowest of the net's passes (minutes apart; the spread is "
                  "how far the slowest lies above it).", "",
                  "| net | family | predicted ms | measured ms | error | passes' spread |",
                  "|---|---|---|---|---|---|"]
        for name, group, p, m, spread in r["nets"]:
            lines.append(f"| {name} | {group} | {p:.3f} | {m:.3f} | {p / m - 1:+.1%} "
                         f"| {spread:.0%} |")
        if r["isolated"]:
            lines += ["", "Every op measured alone (a model of that one op, the per-invoke "
                      "overhead taken out) and summed, against the net measured whole and "
                      "the prediction:", "",
                      "| net | ops | sum of ops alone | whole | sum / whole | predicted / whole "
                      "| largest op types (ms) |", "|---|---|---|---|---|---|---|"]
            for i in r["isolated"]:
                top = ", ".join(f"{t} {ms:.3f}" for t, ms in i["top"])
                lines.append(f"| {i['net']} | {i['ops']} | {i['sum_ms']:.3f} | "
                             f"{i['whole_ms']:.3f} | {i['sum_ms'] / i['whole_ms']:.2f} | "
                             f"{i['predicted_ms'] / i['whole_ms']:.2f} | {top} |")
        lines += ["", f"![{r['precision']}]({r['png']})", ""]
    if FLAGS.findings:
        lines += [FINDINGS]
    fileio.atomic_write_text(FLAGS.out, "\n".join(lines) + "\n")


def main(argv) -> None:
    del argv
    sys.path.insert(0, ROOT)
    command = "python bench/latency_foreign.py " + " ".join(sys.argv[1:])
    results = [run_precision(p) for p in FLAGS.precisions]
    write_report(results, command.strip())
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
