extension WeightsLicense {
    /// OpenAI CLIP's BPE vocabulary (MIT, OpenAI) as shipped by open_clip (MIT, its authors).
    public static let clipTokenizer = WeightsLicense(
        spdx: "MIT (OpenAI) AND MIT (open_clip authors)",
        notice: """
        bpe_simple_vocab_16e6.txt.gz is OpenAI CLIP's byte-pair-encoding merge list, taken
        unmodified from the Python package open_clip_torch 3.3.0.

        CLIP: https://github.com/openai/CLIP
        Copyright (c) 2021 OpenAI. Licensed under the MIT License:

        \(mit(holder: "2021 OpenAI"))

        open_clip: https://github.com/mlfoundations/open_clip
        Licensed under the MIT License:

        \(mit(holder: "2012-2021 Gabriel Ilharco, Mitchell Wortsman, Nicholas Carlini, Rohan Taori, Achal Dave, Vaishaal Shankar, John Miller, Hongseok Namkoong, Hannaneh Hajishirzi, Ali Farhadi, Ludwig Schmidt"))
        """)
}
