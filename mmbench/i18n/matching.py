"""Messages of the "Image–text matching" tab (``mmbench/ui/matching_tab.py``)."""

MESSAGES = {
    "title": {"en": "Image–text matching", "zh": "图文匹配"},
    "intro": {
        "en": "Match images with texts using a CLIP-style model: **similarity matrix** (every image against every "
              "text),\n**zero-shot classification** (pick the label that best describes one image) and **text → image "
              "search**.\nUpload an image (and optionally several more in the gallery), or pick an example at the bottom.",
        "zh": "用 CLIP 类模型把图像和文本对应起来：**相似度矩阵**（每张图像对每条文本）、\n**零样本分类**"
              "（为一张图像挑出最贴切的标签）和 **文本 → 图像检索**。\n上传一张图像（也可以在图库中再上传几张），"
              "或者在页面底部选一个示例。",
    },
    "tiny_note": {
        "en": "The offline tiny CLIP only knows mmbench's procedural world: 64×64 scenes of circles, squares, triangles, "
              "diamonds, crosses and rings in red, green, blue, yellow, purple and orange, small or large, left of / "
              "right of / above / below each other. Try the procedural examples. Real photos (cat, coffee, ...) need an "
              "online CLIP, which downloads once when this machine can reach the Hugging Face hub.",
        "zh": "离线的微型 CLIP 只认识 mmbench 的程序化世界：64×64 的场景，里面有红、绿、蓝、黄、紫、橙色的圆形、正方形、"
              "三角形、菱形、十字和圆环，有大有小，彼此位于左边 / 右边 / 上方 / 下方。请试试程序化示例。"
              "真实照片（猫、咖啡……）需要在线 CLIP，本机能访问 Hugging Face Hub 时会下载一次。",
    },
    "unknown_words": {"en": "{model} does not know these words and ignores their meaning: {words}.",
                      "zh": "{model} 不认识这些词，会忽略它们的含义：{words}。"},
    "too_many_lines": {"en": "Too many {what}s: {n}; this tab shows at most {limit}.",
                       "zh": "{what}太多：{n} 个；这个标签页最多显示 {limit} 个。"},
    "no_images": {"en": "No images yet: upload one under 'Image' (or several under 'Image gallery'), or pick an "
                        "example below.",
                  "zh": "还没有图像：请在“图像”中上传一张（或在“图库”中上传几张），或者在下面选一个示例。"},
    "too_many_images": {"en": "Too many images: {n}; the similarity matrix shows at most {limit}. Use 'Text → image "
                              "search' for larger galleries.",
                        "zh": "图像太多：{n} 张；相似度矩阵最多显示 {limit} 张。更大的图库请用“文本 → 图像检索”。"},
    "no_image_to_classify": {"en": "No image to classify: upload one under 'Image' or pick an example below.",
                             "zh": "没有要分类的图像：请在“图像”中上传一张，或者在下面选一个示例。"},
    "empty_upload_gallery": {"en": "The uploaded gallery is empty: add images under 'Image gallery', or search the "
                                   "built-in procedural gallery.",
                             "zh": "上传的图库是空的：请在“图库”中添加图像，或者检索内置的程序化图库。"},
    "too_many_uploads": {"en": "Too many images: {n}; the limit is {limit}.", "zh": "图像太多：{n} 张，上限是 {limit} 张。"},
    "action_similarity": {"en": "computing the similarity matrix", "zh": "计算相似度矩阵"},
    "action_classify": {"en": "classifying the image", "zh": "对图像分类"},
    "action_search": {"en": "searching the gallery", "zh": "检索图库"},
    "progress_embedding": {"en": "Embedding images and texts", "zh": "正在计算图像和文本的嵌入"},
    "progress_classifying": {"en": "Classifying", "zh": "正在分类"},
    "progress_gallery": {"en": "Embedding your gallery", "zh": "正在计算你的图库的嵌入"},
    "progress_builtin": {"en": "Embedding the built-in gallery", "zh": "正在计算内置图库的嵌入"},
    "examples_procedural": {"en": "Procedural world — the offline tiny CLIP knows these",
                            "zh": "程序化世界——离线的微型 CLIP 认识这些"},
    "examples_photos": {"en": "Real photos (scikit-image) — need an online CLIP; the offline tiny model only knows the "
                              "procedural world",
                        "zh": "真实照片（scikit-image）——需要在线 CLIP；离线的微型模型只认识程序化世界"},
    "image": {"en": "Image", "zh": "图像"},
    "gallery": {"en": "Image gallery (several images)", "zh": "图库（多张图像）"},
    "load_examples": {"en": "Load the 8 procedural example images into the gallery", "zh": "把 8 张程序化示例图像载入图库"},
    "tab_similarity": {"en": "Similarity matrix", "zh": "相似度矩阵"},
    "similarity_help": {"en": "Rows: the **Image** and the **gallery** images; columns: these texts. The framed cell "
                              "is each image's best text.",
                        "zh": "行：**图像** 和 **图库** 中的图像；列：这些文本。带框的单元格是每张图像最匹配的文本。"},
    "texts": {"en": "Texts (one per line)", "zh": "文本（每行一条）"},
    "similarity_button": {"en": "Similarity", "zh": "计算相似度"},
    "table_json": {"en": "Table (JSON)", "zh": "表格（JSON）"},
    "similarity_table": {"en": "Similarity table", "zh": "相似度表"},
    "heatmap": {"en": "Similarity heatmap", "zh": "相似度热力图"},
    "tab_zero_shot": {"en": "Zero-shot classification", "zh": "零样本分类"},
    "zero_shot_help": {"en": "Classifies the single **Image** among these labels.",
                       "zh": "在这些标签中为单张 **图像** 分类。"},
    "labels": {"en": "Labels (one per line)", "zh": "标签（每行一个）"},
    "fill_labels": {"en": "Use the 36 colour-shape classes of the procedural world",
                    "zh": "使用程序化世界的 36 个“颜色 形状”类别"},
    "template": {"en": "Prompt template ({} is replaced by the label; one per line to average several; empty: labels "
                       "as they are)",
                 "zh": "提示词模板（{} 会被替换为标签；每行一个，可对多个模板取平均；留空：直接使用标签）"},
    "zero_shot_button": {"en": "Zero-shot", "zh": "零样本分类"},
    "zero_shot_plot": {"en": "Zero-shot probabilities", "zh": "零样本概率"},
    "scores_json": {"en": "Scores (JSON)", "zh": "得分（JSON）"},
    "scores": {"en": "Scores", "zh": "得分"},
    "tab_search": {"en": "Text → image search", "zh": "文本 → 图像检索"},
    "query": {"en": "Query", "zh": "查询"},
    "source_builtin": {"en": "Built-in procedural gallery (200 scenes)", "zh": "内置程序化图库（200 个场景）"},
    "source_uploaded": {"en": "My uploaded gallery", "zh": "我上传的图库"},
    "source_index": {"en": "Photo index", "zh": "照片索引"},
    "search_in": {"en": "Search in", "zh": "检索范围"},
    "k": {"en": "Results (k)", "zh": "结果数 (k)"},
    "search_button": {"en": "Search", "zh": "检索"},
    "score_help": {"en": "Score: cosine similarity, or — for a model with a matching head, like the tiny CLIP — the "
                         "head's logit after it re-ranks the best candidates (higher is better).",
                   "zh": "得分：余弦相似度；对于带匹配头的模型（比如微型 CLIP），是匹配头对最佳候选重新排序后给出的 "
                         "logit（越高越好）。"},
    "hits_json": {"en": "Hits (JSON)", "zh": "命中结果（JSON）"},
    "hits": {"en": "Hits", "zh": "命中结果"},
    "results": {"en": "Top results", "zh": "最佳结果"},
    "tab_explain": {"en": "Explain", "zh": "可解释性"},
    'plot_similarity': {"en": 'Cosine similarity · {model}', "zh": '余弦相似度 · {model}'},
    'plot_zero_shot': {"en": 'Zero-shot · {model}', "zh": '零样本 · {model}'},
    'score': {"en": 'score', "zh": '得分'},
    'scene': {"en": 'scene', "zh": '场景'},
}
