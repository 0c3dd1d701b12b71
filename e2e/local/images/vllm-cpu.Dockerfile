# The test engine image: vLLM's CPU build, at the version and with the packages of the engine
# tier's virtualenv (e2e/engine/venv.sh), behaving as the vllm/vllm-openai image does for the
# pod the operator renders (`python3 -m vllm.entrypoints.openai.api_server ...`, running as root,
# HOME=/root). Built by localcluster/images.py from a context holding `wheelhouse/` (the venv's
# wheels and its `pip freeze`); no network inside the build.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    python3 -m venv /opt/vllm \
    && /opt/vllm/bin/pip install --no-cache-dir --no-index --no-deps --find-links /wheelhouse \
       -r /wheelhouse/requirements.txt
ENV PATH=/opt/vllm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root \
    # The CPU build sizes its KV cache from this (GiB), not from --gpu-memory-utilization; the
    # tiny test model needs little, and the real node's memory is shared by several replicas.
    VLLM_CPU_KVCACHE_SPACE=1 \
    # No usage reports: the node's pods reach nothing outside this machine anyway.
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1
ENTRYPOINT ["python3", "-m", "vllm.entrypoints.openai.api_server"]
