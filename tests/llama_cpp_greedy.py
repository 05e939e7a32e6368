"""Greedy answers from llama.cpp itself (llama-cpp-python), run in its own venv by tests/training/test_gguf_export.py.

    python llama_cpp_greedy.py MODEL.gguf MAX_NEW_TOKENS < prompts.json > answers.json

Reads a JSON list of prompt token-id lists; writes one list of new token ids per prompt (the end-of-turn token
included when it comes, as transformers' generate does).
"""
import json
import sys

from llama_cpp import Llama


def main() -> None:
    path, max_new = sys.argv[1], int(sys.argv[2])
    llm = Llama(model_path=path, n_ctx=512, n_threads=1, seed=0, verbose=False)
    answers = []
    for ids in json.load(sys.stdin):
        tokens: list[int] = []
        for token in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
            tokens.append(token)
            if token == llm.token_eos() or len(tokens) == max_new:
                break
        answers.append(tokens)
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
