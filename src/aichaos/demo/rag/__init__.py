"""The RAG demo system (``aichaos demo --rag``): vector store, LLM stand-ins, gateway."""
