"""Messages of the "Speech" tab (`mmbench/ui/speech_tab.py`)."""

MESSAGES = {
    "title": {"en": "Speech", "zh": "语音识别"},
    'examples_librivox_readings_public': {"en": 'Examples: LibriVox readings (public domain), ALSA voice clips, espeak-ng speech', "zh": '示例：LibriVox 朗读（公有领域）、ALSA 语音片段、espeak-ng 合成语音'},
    'model': {"en": 'Model', "zh": '模型'},
    'recording': {"en": 'Recording', "zh": '录音'},
    'language': {"en": 'Language', "zh": '语言'},
    'english_only_models_ignore': {"en": "English-only models ignore 'detect' and refuse other languages.", "zh": '仅英文模型会忽略“检测”，并拒绝其他语言。'},
    'word_timestamps': {"en": 'Word timestamps', "zh": '词级时间戳'},
    'beam_size': {"en": 'Beam size', "zh": '束宽'},
    '1_greedy_fastest': {"en": '1 = greedy, fastest', "zh": '1 = 贪心，最快'},
    'voice_activity_segmentation': {"en": 'Voice-activity segmentation', "zh": '语音活动分段'},
    'transcribe': {"en": 'Transcribe', "zh": '转写'},
    'audio_views_only': {"en": 'Audio views only', "zh": '只看音频视图'},
    'stop': {"en": 'Stop', "zh": '停止'},
    'transcript': {"en": 'Transcript', "zh": '转写文本'},
    'segments': {"en": 'Segments', "zh": '分段'},
    'word_timings': {"en": 'Word timings', "zh": '词级时间'},
    'words': {"en": 'Words', "zh": '词'},
    'audio_views_waveform_mel': {"en": 'Audio views: waveform, mel spectrogram with word timings, MFCC, chroma', "zh": '音频视图：波形、带词级时间的梅尔频谱图、MFCC、色度图'},
    "lang_detect": {"en": "detect (multilingual models)", "zh": "自动检测（多语言模型）"},
    "lang_en": {"en": "English", "zh": "英语"},
    "lang_zh": {"en": "Chinese 中文", "zh": "中文"},
    "lang_de": {"en": "German", "zh": "德语"},
    "lang_fr": {"en": "French", "zh": "法语"},
    "lang_es": {"en": "Spanish", "zh": "西班牙语"},
    "lang_ja": {"en": "Japanese", "zh": "日语"},
    "lang_ru": {"en": "Russian", "zh": "俄语"},
    "vad_auto": {"en": "automatic (recordings over 30 s)", "zh": "自动（录音超过 30 秒时）"},
    "vad_on": {"en": "on", "zh": "开"},
    "vad_off": {"en": "off", "zh": "关"},
    "header_start": {"en": "start (s)", "zh": "开始 (s)"},
    "header_end": {"en": "end (s)", "zh": "结束 (s)"},
    "header_text": {"en": "text", "zh": "文本"},
    "header_confidence": {"en": "confidence", "zh": "置信度"},
    "header_word": {"en": "word", "zh": "词"},
    "offline_note": {
        "en": "The offline model is Whisper tiny.en (39 M parameters, int8): English only, fast on a CPU, about 4 % word "
              "errors on clear read speech. The online whisper-small also transcribes Chinese and detects the language; "
              "it downloads once when this machine can reach the Hugging Face hub.",
        "zh": "离线模型是 Whisper tiny.en（3900 万参数，int8）：只识别英语，在 CPU 上很快，清晰朗读语音的词错误率约 4%。"
              "在线的 whisper-small 还能转写中文并检测语言；本机能访问 Hugging Face Hub 时会下载一次。",
    },
    "intro": {
        "en": "**Speech recognition** with Whisper: record with the microphone or upload a clip (WAV, FLAC, MP3, OGG…, any "
              "sample\nrate, mono or stereo), then **Transcribe**. You get the transcript, a table of timed segments with "
              "the model's\nconfidence, word timings, and four views of the sound — waveform, mel spectrogram (with the words "
              "drawn where\nthey are spoken), MFCC and chroma. Long recordings are cut at pauses (Silero voice-activity "
              "detection) into\nchunks of at most 30 s, Whisper's window.\n",
        "zh": "用 Whisper 做 **语音识别**：用麦克风录音或上传一段音频（WAV、FLAC、MP3、OGG……任意采样率，单声道或立体声），"
              "然后点 **转写**。你会得到转写文本、一张带模型置信度的分段时间表、词级时间，以及声音的四种视图——波形、"
              "梅尔频谱图（在说出每个词的位置标出该词）、MFCC 和色度图。长录音会在停顿处（Silero 语音活动检测）"
              "切成最长 30 秒的片段，即 Whisper 的窗口长度。\n",
    },
    "summary_detected": {"en": "{language} (detected, p = {p})", "zh": "{language}（自动检测，p = {p}）"},
    "summary_language": {"en": "Language {language}", "zh": "语言 {language}"},
    "summary_speed": {"en": "{duration} s of audio transcribed in {seconds} s (real-time factor {rtf})",
                      "zh": "{duration} 秒音频用 {seconds} 秒转写完（实时率 {rtf}）"},
    "summary_vad_chunks": {"en": "{n} chunks found by voice-activity detection", "zh": "语音活动检测找到 {n} 个片段"},
    "summary_chunks": {"en": "{n} chunk(s)", "zh": "{n} 个片段"},
    "summary_counts": {"en": "{segments} segments, {words} timed words", "zh": "{segments} 个分段，{words} 个带时间的词"},
    "summary_confidence": {"en": "mean confidence {conf}", "zh": "平均置信度 {conf}"},
    "beam_not_number": {"en": "Beam size must be a whole number from {lo} to {hi}, not {value}.",
                        "zh": "束宽必须是 {lo} 到 {hi} 之间的整数，而不是 {value}。"},
    "beam_out_of_range": {"en": "Beam size must be from {lo} to {hi}, not {number}.",
                          "zh": "束宽必须在 {lo} 到 {hi} 之间，而不是 {number}。"},
    "action_load": {"en": "loading the speech model", "zh": "加载语音模型"},
    "action_transcribe": {"en": "transcribing the recording", "zh": "转写录音"},
    "action_views": {"en": "drawing the audio views", "zh": "绘制音频视图"},
    "no_recording": {"en": "No recording yet: record with the microphone, upload a file, or pick an example below.",
                     "zh": "还没有录音：请用麦克风录音、上传文件，或者在下面选一个示例。"},
    "progress_transcribing": {"en": "Transcribing", "zh": "正在转写"},
    "progress_views": {"en": "Drawing the audio views", "zh": "正在绘制音频视图"},
    "no_speech": {"en": "(no speech recognised)", "zh": "（没有识别到语音）"},
}
