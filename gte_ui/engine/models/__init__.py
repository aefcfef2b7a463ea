"""Model loading: the hub (ModelScope / Hugging Face download and resolution), model families and their traits, and the reranker loader."""
