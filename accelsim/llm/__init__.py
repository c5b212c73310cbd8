"""Large language models: specs from configs, step graphs, and step costs as functions of the KV length."""
