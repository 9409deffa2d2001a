"""Messages of the "Captioning & VQA" tab (`mmbench/ui/captioning_tab.py`)."""

MESSAGES = {
    "title": {"en": "Captioning & VQA", "zh": "图像描述与视觉问答"},
    'procedural_world_the_offline': {"en": 'Procedural world — the offline captioner knows these', "zh": '程序化世界——离线描述模型认识这些'},
    'real_photos_scikit_image': {"en": 'Real photos (scikit-image) — need the online BLIP', "zh": '真实照片（scikit-image）——需要在线 BLIP'},
    'captioning_model': {"en": 'Captioning model', "zh": '图像描述模型'},
    'image': {"en": 'Image', "zh": '图像'},
    'prompt_optional_the_caption': {"en": 'Prompt (optional): the caption starts with it', "zh": '提示（可选）：描述以它开头'},
    'decoding': {"en": 'Decoding', "zh": '解码方式'},
    'beams_beam_search': {"en": 'Beams (beam search)', "zh": '束数（束搜索）'},
    'max_new_tokens': {"en": 'Max new tokens', "zh": '最多新 token 数'},
    'temperature_sampling': {"en": 'Temperature (sampling)', "zh": '温度（采样）'},
    'top_p_sampling': {"en": 'Top-p (sampling)', "zh": 'Top-p（采样）'},
    'seed_sampling_empty_random': {"en": 'Seed (sampling; empty = random)', "zh": '随机种子（采样；留空 = 随机）'},
    'caption': {"en": 'Caption', "zh": '描述'},
    'word_where_did_the': {"en": 'Word: where did the model look when it wrote it?', "zh": '词：模型写这个词时看向了哪里？'},
    'heatmap_opacity': {"en": 'Heatmap opacity', "zh": '热力图不透明度'},
    'cross_attention_of_the': {"en": 'Cross-attention of the chosen word', "zh": '所选词的交叉注意力'},
    'token_probabilities': {"en": 'Token probabilities', "zh": 'token 概率'},
    'visual_question_answering': {"en": '### Visual question answering', "zh": '### 视觉问答'},
    'question_answering_model': {"en": 'Question-answering model', "zh": '问答模型'},
    'question_about_the_image': {"en": 'Question about the image', "zh": '关于图像的问题'},
    'ask': {"en": 'Ask', "zh": '提问'},
    'answer': {"en": 'Answer', "zh": '回答'},
    "offline_note": {
        "en": "The offline captioner was trained by mmbench on its procedural world only: 64×64 scenes of circles, "
              "squares, triangles, diamonds, crosses and rings in six colours. It describes those (try the examples) and "
              "answers questions such as 'what colour is the circle?', 'what shape is left of the red square?', 'how many "
              "objects are there?', 'is there a blue ring?'. Photos need the online BLIP, which downloads once when this "
              "machine can reach the Hugging Face hub.",
        "zh": "离线图像描述模型由 mmbench 只在它的程序化世界上训练：64×64 的场景，里面有六种颜色的圆形、正方形、三角形、"
              "菱形、十字和圆环。它能描述这些场景（试试示例），也能回答诸如 'what colour is the circle?'、'what shape is "
              "left of the red square?'、'how many objects are there?'、'is there a blue ring?' 这样的问题（模型只懂英文）。"
              "照片需要在线 BLIP，本机能访问 Hugging Face Hub 时会下载一次。",
    },
    "intro": {
        "en": "**Image captioning** with an encoder–decoder model: the image encoder turns the picture into patch tokens, "
              "the\ntext decoder writes the caption word by word and, for every word, *cross-attends* to the patches. Pick "
              "a decoding\nstrategy — **greedy** (the most probable next token), **beam search** (keep the *k* most probable "
              "partial\ncaptions) or **sampling** (draw from the distribution; temperature and top-p reshape it, the seed "
              "makes it\nrepeatable) — then pick a word to see where the model looked when it wrote it. Below, **ask a "
              "question** about the\nsame image.\n",
        "zh": "用编码器–解码器模型做 **图像描述**：图像编码器把图片变成图块 token，文本解码器逐词写出描述，"
              "并且每写一个词都会对图块做 *交叉注意力*。选择一种解码策略——**贪心**（取概率最高的下一个 token）、"
              "**束搜索**（保留概率最高的 *k* 个部分描述）或 **采样**（从分布中抽取；温度和 top-p 改变分布形状，"
              "随机种子让结果可复现）——然后选一个词，看看模型写它时看向了哪里。下面还可以针对同一张图像 **提问**。\n",
    },
    "greedy": {"en": "greedy", "zh": "贪心"},
    "beam_search": {"en": "beam search", "zh": "束搜索"},
    "sampling": {"en": "sampling", "zh": "采样"},
    "unknown_strategy": {"en": "Unknown decoding strategy {strategy}: choose greedy, beam search or sampling.",
                         "zh": "未知的解码策略 {strategy}：请选择贪心、束搜索或采样。"},
    "summary_beams": {"en": "{n} beams", "zh": "{n} 束"},
    "summary_sampling": {"en": "temperature {temperature}, top-p {top_p}", "zh": "温度 {temperature}，top-p {top_p}"},
    "summary_seed": {"en": "seed {seed}", "zh": "种子 {seed}"},
    "summary_no_seed": {"en": "no seed (not repeatable)", "zh": "无种子（不可复现）"},
    "summary_tokens": {"en": "{n} tokens · mean token probability (geometric) {conf}",
                       "zh": "{n} 个 token · 平均 token 概率（几何平均）{conf}"},
    "header_token": {"en": "token", "zh": "token"},
    "header_probability": {"en": "probability", "zh": "概率"},
    "action_load_captioner": {"en": "loading the captioning model", "zh": "加载图像描述模型"},
    "action_load_vqa": {"en": "loading the question-answering model", "zh": "加载问答模型"},
    "action_caption": {"en": "captioning the image", "zh": "描述图像"},
    "action_attention": {"en": "drawing the attention map", "zh": "绘制注意力图"},
    "action_answer": {"en": "answering the question", "zh": "回答问题"},
    "no_image": {"en": "No image yet: upload one or pick an example below.", "zh": "还没有图像：请上传一张，或者在下面选一个示例。"},
    "no_image_ask": {"en": "No image yet: upload one or pick an example below, then ask about it.",
                     "zh": "还没有图像：请上传一张，或者在下面选一个示例，然后再提问。"},
    "empty_question": {"en": "The question is empty: type a question about the image, e.g. 'what colour is the circle?'.",
                       "zh": "问题是空的：请输入一个关于图像的问题，例如 'what colour is the circle?'。"},
    "progress_caption": {"en": "Writing the caption", "zh": "正在写描述"},
    "progress_answer": {"en": "Answering", "zh": "正在回答"},
    "vqa_status": {"en": "VQA model status", "zh": "视觉问答模型状态"},
}
