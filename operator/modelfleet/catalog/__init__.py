"""Model configs (bundled and from the Hugging Face Hub) and the GPU catalog."""
