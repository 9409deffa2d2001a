# mmbench serve: the REST API (/v1/..., docs at /docs), the web UI (/), /healthz, /readyz and /metrics
# on one port.  Build and run (CPU):
#
#   docker build -t mmbench .
#   docker run -p 7860:7860 mmbench                      # then open http://localhost:7860/ or /docs
#   docker compose up                                    # the same + Prometheus scraping /metrics (:9090)
#
# Offline tier only (no hub downloads, models that ship with mmbench): docker run -e MMBENCH_OFFLINE=1 ...
# Cache hub checkpoints between runs: -v hf-cache:/home/mmbench/.cache/huggingface
#
# CUDA variant: start from an NVIDIA CUDA runtime image with Python 3.11 instead of python:3.11-slim, e.g.
#   FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04   (then apt-get install python3.11 python3-pip)
# install the torch/torchvision wheels built for that CUDA version (pinned in requirements.txt; the
# default x86-64 Linux wheels already bundle CUDA), and run with `docker run --gpus all ...`.
# mmbench picks the GPU by itself (mmbench.device: cuda -> mps -> cpu). For a smaller CPU-only image,
# install torch/torchvision from PyTorch's CPU wheel index before the last pip install.
FROM python:3.11-slim

# Debian programs some tasks call: espeak-ng (offline text-to-speech), fluidsynth + a General MIDI
# soundfont (the offline composer's music), libsndfile (audio files), curl-free health checks (python),
# fonts-wqy-zenhei (a Chinese font: the figures of the Chinese page).
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng fluidsynth fluid-soundfont-gm libsndfile1 libgomp1 \
       fonts-wqy-zenhei \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 mmbench
WORKDIR /home/mmbench/app

# Dependencies first (cached layer), then the code.
COPY --chown=mmbench pyproject.toml setup.py requirements.txt README.md ./
COPY --chown=mmbench mmbench ./mmbench
COPY --chown=mmbench assets ./assets
COPY --chown=mmbench app.py ./
RUN pip install --no-cache-dir .

USER mmbench
# MMBENCH_HOST: listen on every interface inside the container. PORT: the port (hosts such as
# Hugging Face Spaces or Cloud Run set their own).
ENV MMBENCH_HOST=0.0.0.0 \
    PORT=7860 \
    PYTHONUNBUFFERED=1
EXPOSE 7860

HEALTHCHECK --interval=15s --timeout=3s --start-period=120s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '7860'), timeout=2)"

# SIGTERM (docker stop) drains running requests before the process exits.
STOPSIGNAL SIGTERM
CMD ["mmbench", "serve"]
