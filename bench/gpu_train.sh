#!/bin/bash
# Continue training shipped networks on a lent GPU (the `device` tool), logs and cards continuing.
#
# Here:  python -m deblur.corpus pack --out gpu_pack --max-frames 120   (39 MB, git-ignored)
# Then:  run command "MODELS='atrous_net-gaussian' MIN=25 bash bench/gpu_train.sh", carry ["gpu_pack"]
#        and unpack $OUT/weights.tgz over weights/ (each run writes <name>.safetensors/.md/.log.csv
#        and a manifest entry), then re-run the leaderboards.
# MODELS: space-separated NAMEs (arch-task, or arch-task-paper for the paper-size preset, stored as
# float16). A NAME continues weights/NAME.safetensors when that exists, else trains from scratch.
# Several run side by side and share the GPU, so each gets a fraction of it: one at a time gives a
# network the most samples per minute.
# A run longer than one device command (10 min): start it in its own session so it outlives the
# command, poll it from later commands, and collect the pieces when /tmp/done exists:
#   setsid nohup bash bench/gpu_train.sh > /tmp/main.txt 2>&1 &          (OUT=/tmp/final by default)
#   ... then: cp /tmp/final/* "$OUT"/   (the tarball is split into 15 MiB parts: cat weights.tgz.* | tar xz)
# MIN: minutes of training per network (cosine learning-rate decay over that time); LR: peak rate.
set -u
export PYTHONUNBUFFERED=1
MIN=${MIN:-8}
LR=${LR:-2e-4}
OUT=${OUT:-/tmp/final}
mkdir -p /tmp/w /tmp/r /tmp/logs "$OUT"
common="--data gpu_pack --online --bf16 --schedule cosine --lr $LR --min-lr 1e-6 --minutes $MIN
        --epochs 1000 --threads 4 --run-dir /tmp/r --ship"
pids=()
for name in ${MODELS:-atrous_net-gaussian}; do
  base=${name%-paper}; arch=${base%-*}; task=${base##*-}
  if [ "$base" != "$name" ]; then preset="--preset paper --store float16 --name $name"; else preset="--preset lite"; fi
  init=""; [ -f "weights/$name.safetensors" ] && init="--init weights/$name.safetensors"
  if [ "$task" = gaussian ]; then size="--crop 64 --batch 128 --steps-per-epoch 500 --val-samples 256"
  else size="--crop 256 --batch 12 --steps-per-epoch 300 --val-samples 64"; fi
  python3 -m deblur.train --model "$arch" --task "$task" $size $preset $init \
      --out "/tmp/w/$name" $common > "/tmp/logs/$name.txt" 2>&1 &
  pids+=($!)
done
(while sleep 30; do nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; done) \
    > /tmp/logs/gpu.txt 2>&1 &
wait "${pids[@]}"
for f in /tmp/logs/*.txt; do echo "== $f"; grep -v "it/s" "$f" | tail -3; done
tar czf - -C /tmp w | split -b 15M - "$OUT/weights.tgz."
tar czf "$OUT/logs.tgz" -C /tmp logs
ls -la "$OUT"
touch /tmp/done
