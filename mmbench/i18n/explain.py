"""Messages of the "Explain (image classification)" tab (`mmbench/ui/explain_panel.py`)."""

MESSAGES = {
    "title": {"en": "Explain (image classification)", "zh": "可解释性（图像分类）"},
    'target_text': {"en": 'Target text', "zh": '目标文本'},
    'methods_several_side_by': {"en": 'Methods (several: side by side)', "zh": '方法（可多选：并排显示）'},
    'layer_cam_methods': {"en": 'Layer (CAM methods)', "zh": '层（CAM 方法）'},
    'which_layer_of_the': {"en": 'Which layer of the image encoder the CAM methods explain.', "zh": 'CAM 方法解释图像编码器的哪一层。'},
    'explain': {"en": 'Explain', "zh": '解释'},
    'heatmap_opacity': {"en": 'Heatmap opacity', "zh": '热力图不透明度'},
    'download_png': {"en": 'Download PNG', "zh": '下载 PNG'},
    'explanations': {"en": 'Explanations', "zh": '解释结果'},
    'details_json': {"en": 'Details (JSON)', "zh": '详情（JSON）'},
    'details': {"en": 'Details', "zh": '详情'},
    'attention_per_block_and': {"en": 'Attention per block and head (vision transformers)', "zh": '每个块、每个头的注意力（视觉 Transformer）'},
    'block': {"en": 'Block', "zh": '块'},
    '1_the_last_block': {"en": "-1: the last block, every head; 'all': the head average of every block.", "zh": "-1：最后一个块、所有头；'all'：每个块的各头平均。"},
    'show_attention': {"en": 'Show attention', "zh": '显示注意力'},
    'attention_of_the_read': {"en": 'Attention of the read-out token', "zh": '读出 token 的注意力'},
    'examples': {"en": 'Examples', "zh": '示例'},
    'classifier': {"en": 'Classifier', "zh": '分类器'},
    'efficientnet_lite0_ships_with': {"en": 'EfficientNet-Lite0 ships with mmbench (offline); the ViT downloads once.', "zh": 'EfficientNet-Lite0 随 mmbench 提供（离线）；ViT 需下载一次。'},
    'image': {"en": 'Image', "zh": '图像'},
    'top_5_classes': {"en": 'Top-5 classes', "zh": '前 5 个类别'},
    'class_to_explain': {"en": 'Class to explain', "zh": '要解释的类别'},
    'type_to_search_the': {"en": "Type to search the model's classes.", "zh": '输入文字以搜索模型的类别。'},
    'real_photos_scikit_image': {"en": 'Real photos (scikit-image)', "zh": '真实照片（scikit-image）'},
    "matching_help": {
        "en": "**Explain**: where in the **Image** does the model find *this text*? Each method gives a heatmap (red =\n"
              "relevant); several methods are shown side by side. CAM methods explain one **layer** of the image\n"
              "encoder; *attention relevance* (Chefer et al. 2021) follows the vision transformer's attention, weighted\n"
              "by its gradient for the text; *rollout* and *raw attention* ignore the text (same map for every text).\n",
        "zh": "**解释**：模型在 **图像** 的哪里找到了 *这段文本*？每种方法给出一张热力图（红色 = 相关）；"
              "多种方法并排显示。CAM 方法解释图像编码器的某一 **层**；*注意力相关性*（Chefer 等，2021）"
              "沿着视觉 Transformer 的注意力，并用它对该文本的梯度加权；*rollout* 和 *原始注意力* 不看文本"
              "（每条文本得到同一张图）。\n",
    },
    "classification_help": {
        "en": "Which pixels made the classifier say *this class*? Pick a **class** (the top-5 predictions are listed)\n"
              "and one or more **methods**. Try the cat photo with *Egyptian cat*, then with *espresso*: a faithful\n"
              "method moves its map (or loses it) when the class changes — that is class sensitivity.\n",
        "zh": "是哪些像素让分类器说出 *这个类别*？选一个 **类别**（列出了前 5 个预测）和一种或多种 **方法**。"
              "先用猫的照片试 *Egyptian cat*，再试 *espresso*：忠实的方法在类别改变时会移动它的热力图（或让它消失）"
              "——这就是类别敏感性。\n",
    },
    "method_gradcam": {"en": "Grad-CAM", "zh": "Grad-CAM"},
    "method_gradcam++": {"en": "Grad-CAM++", "zh": "Grad-CAM++"},
    "method_hirescam": {"en": "HiResCAM", "zh": "HiResCAM"},
    "method_scorecam": {"en": "Score-CAM", "zh": "Score-CAM"},
    "method_eigencam": {"en": "Eigen-CAM", "zh": "Eigen-CAM"},
    "method_layercam": {"en": "LayerCAM", "zh": "LayerCAM"},
    "method_rollout": {"en": "Attention rollout", "zh": "注意力 rollout"},
    "method_chefer": {"en": "Attention relevance (Chefer)", "zh": "注意力相关性（Chefer）"},
    "method_attention": {"en": "Raw attention", "zh": "原始注意力"},
    "method_patch-similarity": {"en": "Patch–text similarity", "zh": "图块–文本相似度"},
    "layer_default": {"en": "default", "zh": "默认"},
    "layer_default_named": {"en": "default ({layer})", "zh": "默认（{layer}）"},
    "no_method": {"en": "Choose at least one method.", "zh": "请至少选择一种方法。"},
    "too_many_methods": {"en": "Too many methods: {n}; compare at most {limit} at once.",
                         "zh": "方法太多：{n} 种；一次最多比较 {limit} 种。"},
    "enter_target": {"en": "Enter a {what} to explain.", "zh": "请输入要解释的{what}。"},
    "pick_class": {"en": "Pick a class to explain.", "zh": "请选择要解释的类别。"},
    "no_image": {"en": "No image yet: upload one under 'Image' or pick an example.",
                 "zh": "还没有图像：请在“图像”中上传一张，或者选一个示例。"},
    "bad_block": {"en": "Block must be a whole number (negative counts from the end) or 'all', not {block}.",
                  "zh": "块必须是整数（负数表示从末尾数）或 'all'，而不是 {block}。"},
    "action_methods": {"en": "listing the explanation methods", "zh": "列出解释方法"},
    "action_explain": {"en": "explaining the image", "zh": "解释图像"},
    "action_redraw": {"en": "redrawing the overlays", "zh": "重新绘制叠加图"},
    "action_attention": {"en": "reading the attention maps", "zh": "读取注意力图"},
    "progress_explaining": {"en": "Explaining with {n} method(s)", "zh": "正在用 {n} 种方法解释"},
    'opacity_nan': {"en": 'Opacity must be a number between 0 and 1, not {value}.', "zh": '不透明度必须是 0 到 1 之间的数，而不是 {value}。'},
    'opacity_range': {"en": 'Opacity must be between 0 and 1, not {number}.', "zh": '不透明度必须在 0 到 1 之间，而不是 {number}。'},
}
