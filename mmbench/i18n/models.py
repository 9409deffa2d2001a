"""The registry's words as the "Models" tab shows them: tiers, statuses and each row's "good for"
(``good_for.<model name>``, dots in the name written as ``_``; see :func:`good_for_key`). A row with
no entry here is shown in English (``tests/test_i18n.py`` lists such rows)."""


def good_for_key(name: str) -> str:
    """The catalogue key (in this namespace) of model ``name``'s "good for" text."""
    return "good_for_" + name.replace(".", "_")


MESSAGES = {
    "tier.online": {"en": "online", "zh": "在线"},
    "tier.offline": {"en": "offline", "zh": "离线"},
    "status.ready": {"en": "ready", "zh": "可用"},
    "status.planned": {"en": "planned", "zh": "计划中"},
    "status.issue": {"en": "{status} (issue #{issue})", "zh": "{status}（issue #{issue}）"},
    good_for_key("openclip-vit-b-32"): {
        "en": "General zero-shot classification and retrieval on photos; 512-d embeddings; the production default.",
        "zh": "照片上的通用零样本分类与检索；512 维嵌入；生产环境的默认模型。"},
    good_for_key("openclip-vit-b-16"): {
        "en": "Finer patches than B-32: better on small objects, about 4x the compute.",
        "zh": "比 B-32 更细的图像块：小物体上更好，计算量约为 4 倍。"},
    good_for_key("clip-vit-base-patch32"): {
        "en": "OpenAI's original CLIP through transformers; exposes attentions for explanation.",
        "zh": "通过 transformers 加载的 OpenAI 原版 CLIP；可取出注意力用于解释。"},
    good_for_key("mmbench-tiny-clip"): {
        "en": "Trained by mmbench on its procedural world: shapes, colours, sizes and spatial relations, 64x64 images. "
              "Includes an image-text matching head that re-ranks for attribute binding. Knows only the world's vocabulary.",
        "zh": "由 mmbench 在其程序生成的世界上训练：形状、颜色、大小和空间关系，64x64 图像。"
              "带一个图文匹配头，按属性绑定重新排序。只认识这个世界的词汇。"},
    good_for_key("mmbench-tiny-clip-student"): {
        "en": "mmbench-tiny-clip distilled into a dual encoder with 0.23 of its parameters (4 of its 6 vision layers, "
              "2 of its 3 text layers, MLPs pruned 4x, no matching head) on the procedural world; the 'distilled' "
              "method of mmbench.compress.",
        "zh": "在程序生成的世界上把 mmbench-tiny-clip 蒸馏成参数量为其 0.23 的双编码器（6 个视觉层保留 4 个、"
              "3 个文本层保留 2 个，MLP 剪枝 4 倍，无匹配头）；即 mmbench.compress 的 'distilled' 方法。"},
    good_for_key("mmbench-tiny-clip-int8"): {
        "en": "mmbench-tiny-clip with dynamic int8 nn.Linear layers (torch.ao): ~1.6x faster at batch 32 on a CPU, "
              "same zero-shot accuracy, matching head kept.",
        "zh": "使用动态 int8 nn.Linear 层（torch.ao）的 mmbench-tiny-clip：CPU 上批大小 32 时快约 1.6 倍，"
              "零样本准确率不变，保留匹配头。"},
    good_for_key("mmbench-tiny-clip-onnx"): {
        "en": "mmbench-tiny-clip's two towers exported to ONNX and run by ONNX Runtime (float32, fused attention): "
              "the same embeddings (1e-5), faster on a CPU; dual encoder only, no re-ranking.",
        "zh": "mmbench-tiny-clip 的两个塔导出为 ONNX，由 ONNX Runtime 运行（float32，融合注意力）："
              "嵌入相同（误差 1e-5），CPU 上更快；仅双编码器，不重新排序。"},
    good_for_key("mmbench-tiny-clip-onnx-int8"): {
        "en": "The ONNX towers with ONNX Runtime's dynamic int8 MatMuls: the fastest CPU copy, same zero-shot accuracy; "
              "dual encoder only, no re-ranking.",
        "zh": "使用 ONNX Runtime 动态 int8 MatMul 的 ONNX 塔：CPU 上最快的副本，零样本准确率不变；仅双编码器，不重新排序。"},
    good_for_key("efficientnet-lite0"): {
        "en": "Real ImageNet-1k classifier that loads with no network; Grad-CAM on real photos.",
        "zh": "无需联网即可加载的真实 ImageNet-1k 分类器；可在真实照片上做 Grad-CAM。"},
    good_for_key("vit-base-patch16-224"): {
        "en": "ImageNet-1k ViT; attention rollout on real photos.",
        "zh": "ImageNet-1k ViT；可在真实照片上做注意力展开（attention rollout）。"},
    good_for_key("all-minilm-l6-v2"): {
        "en": "Real 384-d English sentence embeddings (all-MiniLM-L6-v2), shipped inside a PyPI package; the fusion "
              "lab's deep text representation.",
        "zh": "真实的 384 维英文句子嵌入（all-MiniLM-L6-v2），随 PyPI 包提供；融合实验室的深度文本表示。"},
    good_for_key("mmbench-prosody-cnn"): {
        "en": "Spectrogram CNN trained by mmbench on its procedural prosody clips (negative / neutral / positive cue); "
              "the fusion lab's deep audio representation and the target of time-frequency occlusion maps. Knows only "
              "procedural prosody.",
        "zh": "由 mmbench 在程序生成的韵律片段（负面 / 中性 / 正面线索）上训练的频谱图 CNN；"
              "融合实验室的深度音频表示，也是时频遮挡图的解释对象。只认识程序生成的韵律。"},
    good_for_key("whisper-small"): {
        "en": "Multilingual speech recognition (Chinese, English and 97 more languages) with language detection, "
              "segment and word timestamps; float16 on GPUs.",
        "zh": "多语言语音识别（中文、英文及另外 97 种语言），带语言检测、分段和逐词时间戳；GPU 上用 float16。"},
    good_for_key("whisper-tiny.en-ct2"): {
        "en": "English-only Whisper tiny.en in CTranslate2 int8 (faster-whisper); runs offline on CPU (real-time factor "
              "0.3 on 2 busy cores). Word error rate 0.042 on the LibriVox test recordings.",
        "zh": "仅英文的 Whisper tiny.en，CTranslate2 int8 格式（faster-whisper）；在 CPU 上离线运行"
              "（2 个繁忙核心上实时率 0.3）。在 LibriVox 测试录音上的词错误率为 0.042。"},
    good_for_key("blip-image-captioning-base"): {
        "en": "General photo captioning (COCO-trained BLIP base, ViT-B/16 at 384 px): greedy, beam or sampled captions, "
              "conditional captions from a prompt ('a picture of'), per-word cross-attention maps; float16 on GPUs.",
        "zh": "通用照片描述（COCO 训练的 BLIP base，ViT-B/16，384 像素）：贪心、束搜索或采样生成描述，"
              "可从提示词续写（'a picture of'），逐词交叉注意力图；GPU 上用 float16。"},
    good_for_key("mmbench-tiny-captioner"): {
        "en": "Trained by mmbench on its procedural world: a 0.42 M-parameter transformer decoder with cross-attention "
              "over the frozen tiny CLIP's patch tokens. Captions scenes of coloured shapes ('a red circle left of a "
              "blue square'), with token probabilities and per-word attention maps. Knows only the world's vocabulary.",
        "zh": "由 mmbench 在其程序生成的世界上训练：一个 0.42 M 参数的 Transformer 解码器，对冻结的 tiny CLIP 图像块"
              "做交叉注意力。为彩色形状场景生成描述（'a red circle left of a blue square'），给出词元概率和逐词注意力图。"
              "只认识这个世界的词汇。"},
    good_for_key("git-base-coco"): {
        "en": "Another captioning family: GIT base fine-tuned on COCO, one decoder whose self-attention reads the CLIP "
              "image tokens as a prefix (no cross-attention; its maps are the text-to-image part of that attention). "
              "Smaller and faster than BLIP base.",
        "zh": "另一类描述模型：在 COCO 上微调的 GIT base，一个解码器的自注意力把 CLIP 图像词元当作前缀来读"
              "（没有交叉注意力；其注意力图是该注意力中文本到图像的部分）。比 BLIP base 更小更快。"},
    good_for_key("blip-vqa-base"): {
        "en": "Short answers to free questions about photos (BLIP base fine-tuned on VQA v2): 'what is the cat doing?', "
              "'how many people are there?'.",
        "zh": "用简短答案回答关于照片的自由提问（在 VQA v2 上微调的 BLIP base）：'what is the cat doing?'、"
              "'how many people are there?'。"},
    good_for_key("mmbench-tiny-vqa"): {
        "en": "The tiny captioner's decoder answering questions about procedural scenes: colours, shapes, counts, "
              "spatial relations, 'is there a ...?'. Same weights as mmbench-tiny-captioner; knows only the world's "
              "vocabulary.",
        "zh": "tiny 描述模型的解码器回答关于程序生成场景的问题：颜色、形状、数量、空间关系、'is there a ...?'。"
              "权重与 mmbench-tiny-captioner 相同；只认识这个世界的词汇。"},
    good_for_key("sd-turbo"): {
        "en": "Distilled Stable Diffusion 2.1: 512x512 images in 1-4 steps without guidance (negative prompts have no "
              "effect at guidance 0); float16 on GPUs, about 0.1 s per image on a recent GPU.",
        "zh": "蒸馏版 Stable Diffusion 2.1：1-4 步生成 512x512 图像，无需引导（引导为 0 时反向提示词无效）；"
              "GPU 上用 float16，新款 GPU 上每张约 0.1 秒。"},
    good_for_key("sdxl-base-1.0"): {
        "en": "The larger option: SDXL base at 1024x1024, 20-50 steps with guidance and negative prompts; needs a GPU "
              "with 12 GB or more (turn on VAE tiling / CPU offload below that). bfloat16 on GPUs (the SDXL VAE "
              "overflows in float16).",
        "zh": "更大的选项：SDXL base，1024x1024，20-50 步，支持引导和反向提示词；需要 12 GB 及以上显存的 GPU"
              "（不足时请开启 VAE 分块 / CPU 卸载）。GPU 上用 bfloat16（SDXL 的 VAE 在 float16 下会溢出）。"},
    good_for_key("mmbench-tiny-diffusion"): {
        "en": "Trained by mmbench on its procedural world (32x32 pixels, one or two coloured shapes), conditioned on the "
              "tiny CLIP's text tower; per-word cross-attention maps. Knows only the world's vocabulary.",
        "zh": "由 mmbench 在其程序生成的世界上训练（32x32 像素，一两个彩色形状），以 tiny CLIP 的文本塔为条件；"
              "逐词交叉注意力图。只认识这个世界的词汇。"},
    good_for_key("musicgen-small"): {
        "en": "Text-to-music (MusicGen small: 300 M-parameter decoder over 4 EnCodec codebooks at 50 Hz, T5-base text "
              "encoder), 32 kHz mono, up to 30 s; seed and classifier-free guidance.",
        "zh": "文本生成音乐（MusicGen small：300 M 参数的解码器，基于 4 个 50 Hz 的 EnCodec 码本，T5-base 文本编码器），"
              "32 kHz 单声道，最长 30 秒；可设随机种子和无分类器引导。"},
    good_for_key("mmbench-composer"): {
        "en": "Rule-based composer: reads mood, genre, tempo, key and instrument words ('a calm slow piano piece in a "
              "minor key', 'fast happy dance'), writes MIDI (chords, bass, melody, drums) and renders it with "
              "FluidSynth and the General MIDI soundfont. Not a learned model: it follows the prompt's words exactly "
              "and knows nothing else.",
        "zh": "基于规则的作曲器：读取情绪、风格、速度、调性和乐器词（'a calm slow piano piece in a minor key'、"
              "'fast happy dance'），写出 MIDI（和弦、贝斯、旋律、鼓），再用 FluidSynth 和 General MIDI 音色库渲染。"
              "不是学习得到的模型：严格按提示词行事，别的一概不知。"},
    good_for_key("mmbench-tiny-sound"): {
        "en": "Conditional VAE trained by mmbench on its procedural sound world: beeps, tones, hums and chirps, 1-4 of "
              "them, short or long, low or high, rising, falling or steady ('three short high beeps', 'a low tone "
              "rising'); mel spectrogram + Griffin-Lim, 2 s at 16 kHz. Knows only that world's words.",
        "zh": "由 mmbench 在程序生成的声音世界上训练的条件 VAE：哔声、纯音、嗡声和啁啾声，1-4 个，长或短、低或高，"
              "上升、下降或平稳（'three short high beeps'、'a low tone rising'）；梅尔频谱 + Griffin-Lim，"
              "16 kHz 下 2 秒。只认识那个世界的词。"},
    good_for_key("mms-tts-eng"): {
        "en": "Neural English speech (VITS from Meta's Massively Multilingual Speech project), 16 kHz; speed and seed.",
        "zh": "神经网络英语语音（Meta 大规模多语言语音项目的 VITS），16 kHz；可调语速和随机种子。"},
    good_for_key("espeak-ng"): {
        "en": "Formant speech synthesis in 100+ languages (English voices en-us, en-gb..., Mandarin cmn), no network; "
              "voice, variant, speed and pitch. Robotic but clear.",
        "zh": "共振峰语音合成，支持 100 多种语言（英语音色 en-us、en-gb……，普通话 cmn），无需联网；"
              "可选音色、变体、语速和音高。机械但清晰。"},
    good_for_key("piper-joe-medium"): {
        "en": "Natural-sounding neural US-English voice (Piper VITS on ONNX Runtime) with no network. Optional: not "
              "installed by requirements.txt because piper-tts is GPL-3.0.",
        "zh": "自然的神经网络美式英语音色（ONNX Runtime 上的 Piper VITS），无需联网。可选：requirements.txt 不安装它，"
              "因为 piper-tts 采用 GPL-3.0 许可。"},
    good_for_key("videomae-base-kinetics"): {
        "en": "Kinetics-400 action recognition (400 human actions: 'playing guitar', 'riding a bike'...); 16 frames "
              "taken every 4th frame, 224x224.",
        "zh": "Kinetics-400 动作识别（400 种人类动作：'playing guitar'、'riding a bike'……）；每隔 4 帧取 1 帧，"
              "共 16 帧，224x224。"},
    good_for_key("xclip-base-patch32"): {
        "en": "Zero-shot video classification against free-text labels you write (X-CLIP, Kinetics-400 pre-training); "
              "8 frames.",
        "zh": "按你写的自由文本标签做零样本视频分类（X-CLIP，Kinetics-400 预训练）；8 帧。"},
    good_for_key("mmbench-tiny-video"): {
        "en": "Trained by mmbench on its procedural clips: nine motions (moving left/right/up/down, growing, shrinking, "
              "rotating, blinking, bouncing), plus an audio network on the clips' sound for audio-visual fusion. "
              "Knows only these motions.",
        "zh": "由 mmbench 在程序生成的片段上训练：九种运动（向左/右/上/下移动、变大、缩小、旋转、闪烁、弹跳），"
              "外加一个处理片段声音的音频网络，用于视听融合。只认识这些运动。"},
    good_for_key("fer-mini-xception"): {
        "en": "Real faces in photos: MTCNN detection + the fer package's mini-Xception (FER-2013, 7 expressions, 64x64 "
              "grayscale; about 71 % test accuracy per its author), ported to torch; no network.",
        "zh": "照片中的真实人脸：MTCNN 检测 + fer 包的 mini-Xception（FER-2013，7 种表情，64x64 灰度；"
              "据作者称测试准确率约 71 %），已移植到 torch；无需联网。"},
    good_for_key("vit-face-expression"): {
        "en": "ViT-B/16 fine-tuned on FER-2013 (7 expressions, 0.71 test accuracy per its card) on the same MTCNN face "
              "crops; Grad-CAM on its encoder layers.",
        "zh": "在 FER-2013 上微调的 ViT-B/16（7 种表情，据其模型卡测试准确率 0.71），使用相同的 MTCNN 人脸裁剪；"
              "可在其编码器层上做 Grad-CAM。"},
}
