//! Name tables: Kazakh, Russian/European and Korean surnames in their male
//! and female forms, given names, and the stems that patronymics are built
//! from. All strings are plain Cyrillic (nothing needs JSON escaping; a test
//! checks that).

/// Which naming tradition a family follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Group {
    Kazakh,
    Russian,
    Korean,
}

/// Surnames as (male form, female form).
pub(super) const KAZAKH_SURNAMES: &[(&str, &str)] = &[
    ("Ахметов", "Ахметова"),
    ("Сейтказиев", "Сейтказиева"),
    ("Жумабаев", "Жумабаева"),
    ("Нурланов", "Нурланова"),
    ("Касымов", "Касымова"),
    ("Абдрахманов", "Абдрахманова"),
    ("Искаков", "Искакова"),
    ("Оспанов", "Оспанова"),
    ("Тулегенов", "Тулегенова"),
    ("Бекмухамбетов", "Бекмухамбетова"),
    ("Садыков", "Садыкова"),
    ("Жаксылыков", "Жаксылыкова"),
    ("Мусин", "Мусина"),
    ("Ергалиев", "Ергалиева"),
    ("Сарсенбаев", "Сарсенбаева"),
    ("Омаров", "Омарова"),
    ("Байжанов", "Байжанова"),
    ("Тажибаев", "Тажибаева"),
    ("Кенжебаев", "Кенжебаева"),
    ("Нургалиев", "Нургалиева"),
    ("Калиев", "Калиева"),
    ("Смагулов", "Смагулова"),
    ("Утепов", "Утепова"),
    ("Мухаметжанов", "Мухаметжанова"),
    ("Ермеков", "Ермекова"),
    ("Жолдасбеков", "Жолдасбекова"),
    ("Есенов", "Есенова"),
    ("Темирбеков", "Темирбекова"),
    ("Шарипов", "Шарипова"),
    ("Абенов", "Абенова"),
    ("Дюсенов", "Дюсенова"),
    ("Ибраев", "Ибраева"),
    ("Кожахметов", "Кожахметова"),
    ("Маханов", "Маханова"),
    ("Рахимов", "Рахимова"),
    ("Султанов", "Султанова"),
    ("Токтаров", "Токтарова"),
    ("Уалиханов", "Уалиханова"),
    ("Шайхин", "Шайхина"),
    ("Тлеуберді", "Тлеуберді"),
];

pub(super) const RUSSIAN_SURNAMES: &[(&str, &str)] = &[
    ("Иванов", "Иванова"),
    ("Смирнов", "Смирнова"),
    ("Кузнецов", "Кузнецова"),
    ("Попов", "Попова"),
    ("Васильев", "Васильева"),
    ("Петров", "Петрова"),
    ("Соколов", "Соколова"),
    ("Михайлов", "Михайлова"),
    ("Новиков", "Новикова"),
    ("Фёдоров", "Фёдорова"),
    ("Морозов", "Морозова"),
    ("Волков", "Волкова"),
    ("Алексеев", "Алексеева"),
    ("Лебедев", "Лебедева"),
    ("Семёнов", "Семёнова"),
    ("Егоров", "Егорова"),
    ("Павлов", "Павлова"),
    ("Козлов", "Козлова"),
    ("Степанов", "Степанова"),
    ("Николаев", "Николаева"),
    ("Ковальский", "Ковальская"),
    ("Вишневский", "Вишневская"),
    ("Шевченко", "Шевченко"),
    ("Бондаренко", "Бондаренко"),
    ("Ткаченко", "Ткаченко"),
    ("Шмидт", "Шмидт"),
    ("Миллер", "Миллер"),
    ("Гусев", "Гусева"),
    ("Белов", "Белова"),
    ("Зайцев", "Зайцева"),
];

pub(super) const KOREAN_SURNAMES: &[(&str, &str)] = &[
    ("Ким", "Ким"),
    ("Пак", "Пак"),
    ("Цой", "Цой"),
    ("Ли", "Ли"),
    ("Тен", "Тен"),
    ("Хан", "Хан"),
];

/// A male given name with the stem its patronymic is built on: `soft`
/// stems take -евич/-евна (Сергей → Серге-евич), hard ones -ович/-овна.
pub(super) struct MaleName {
    pub given: &'static str,
    pub stem: &'static str,
    pub soft: bool,
}

const fn hard(given: &'static str) -> MaleName {
    MaleName {
        given,
        stem: given,
        soft: false,
    }
}

const fn soft(given: &'static str, stem: &'static str) -> MaleName {
    MaleName {
        given,
        stem,
        soft: true,
    }
}

pub(super) const KAZAKH_MALE: &[MaleName] = &[
    hard("Ерлан"),
    hard("Марат"),
    hard("Серик"),
    hard("Нурлан"),
    hard("Асхат"),
    hard("Бауыржан"),
    hard("Дархан"),
    hard("Ержан"),
    hard("Айдар"),
    hard("Арман"),
    hard("Бекзат"),
    hard("Даурен"),
    hard("Жандос"),
    hard("Канат"),
    hard("Мурат"),
    hard("Нуржан"),
    hard("Талгат"),
    hard("Темирлан"),
    hard("Алихан"),
    hard("Санжар"),
    hard("Азамат"),
    hard("Ернар"),
    soft("Абай", "Аба"),
    hard("Болат"),
    hard("Габит"),
    hard("Жумабек"),
    hard("Кайрат"),
    hard("Максат"),
    hard("Алмас"),
    hard("Нуркен"),
    hard("Саят"),
    hard("Ислам"),
    hard("Руслан"),
    hard("Тимур"),
];

pub(super) const RUSSIAN_MALE: &[MaleName] = &[
    hard("Александр"),
    soft("Сергей", "Серге"),
    soft("Андрей", "Андре"),
    soft("Алексей", "Алексе"),
    soft("Дмитрий", "Дмитри"),
    hard("Владимир"),
    soft("Николай", "Никола"),
    hard("Иван"),
    hard("Михаил"),
    soft("Евгений", "Евгень"),
    hard("Виктор"),
    soft("Юрий", "Юрь"),
    hard("Олег"),
    hard("Павел"),
    soft("Игорь", "Игор"),
    hard("Максим"),
    hard("Артём"),
    hard("Денис"),
    hard("Роман"),
    hard("Константин"),
    soft("Василий", "Василь"),
    soft("Григорий", "Григорь"),
    soft("Анатолий", "Анатоль"),
    soft("Геннадий", "Геннадь"),
    hard("Степан"),
    hard("Фёдор"),
    hard("Борис"),
    soft("Виталий", "Виталь"),
    hard("Вячеслав"),
    hard("Антон"),
];

pub(super) const KAZAKH_FEMALE: &[&str] = &[
    "Айгерим",
    "Айгуль",
    "Асель",
    "Гульнара",
    "Динара",
    "Жанар",
    "Жансая",
    "Камила",
    "Мадина",
    "Меруерт",
    "Назерке",
    "Салтанат",
    "Сауле",
    "Томирис",
    "Алия",
    "Аружан",
    "Айжан",
    "Гаухар",
    "Дана",
    "Индира",
    "Карлыгаш",
    "Ляззат",
    "Молдир",
    "Нургуль",
    "Сабина",
    "Улжан",
    "Шынар",
    "Раушан",
    "Айман",
    "Балжан",
];

pub(super) const RUSSIAN_FEMALE: &[&str] = &[
    "Елена",
    "Ольга",
    "Наталья",
    "Татьяна",
    "Ирина",
    "Светлана",
    "Анна",
    "Мария",
    "Екатерина",
    "Юлия",
    "Людмила",
    "Галина",
    "Валентина",
    "Надежда",
    "Любовь",
    "Вера",
    "Марина",
    "Оксана",
    "Анастасия",
    "Виктория",
    "Дарья",
    "Ксения",
    "Алёна",
    "Полина",
    "Софья",
    "Нина",
    "Лариса",
    "Зоя",
    "Тамара",
    "Алина",
];

pub(super) fn surnames(g: Group) -> &'static [(&'static str, &'static str)] {
    match g {
        Group::Kazakh => KAZAKH_SURNAMES,
        Group::Russian => RUSSIAN_SURNAMES,
        Group::Korean => KOREAN_SURNAMES,
    }
}

/// Koreans in Kazakhstan mostly carry Russian given names.
pub(super) fn male_names(g: Group) -> &'static [MaleName] {
    match g {
        Group::Kazakh => KAZAKH_MALE,
        Group::Russian | Group::Korean => RUSSIAN_MALE,
    }
}

pub(super) fn female_names(g: Group) -> &'static [&'static str] {
    match g {
        Group::Kazakh => KAZAKH_FEMALE,
        Group::Russian | Group::Korean => RUSSIAN_FEMALE,
    }
}

/// A person's name as small indices into the tables above, resolved to
/// text only when a record is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Name {
    /// Group of the surname table `surname` indexes.
    pub surname_group: Group,
    pub surname: u16,
    /// Group of the given-name table (male or female by `female`).
    pub given_group: Group,
    pub given: u16,
    pub female: bool,
    /// The father's given name (index into `male_names(patr_group)`).
    pub patronymic: Option<(Group, u16)>,
    /// Kazakh-style patronymic (Маратұлы / Маратқызы) instead of -ович/-овна.
    pub kazakh_style: bool,
}

impl Name {
    pub fn surname_str(&self) -> &'static str {
        let (m, f) = surnames(self.surname_group)[self.surname as usize];
        if self.female { f } else { m }
    }

    pub fn given_str(&self) -> &'static str {
        if self.female {
            female_names(self.given_group)[self.given as usize]
        } else {
            male_names(self.given_group)[self.given as usize].given
        }
    }

    /// The patronymic as up to two pieces to write one after the other.
    pub fn patronymic_parts(&self) -> Option<(&'static str, &'static str)> {
        let (g, i) = self.patronymic?;
        let father = &male_names(g)[i as usize];
        Some(match (self.kazakh_style, self.female, father.soft) {
            (true, false, _) => (father.given, "ұлы"),
            (true, true, _) => (father.given, "қызы"),
            (false, false, false) => (father.stem, "ович"),
            (false, true, false) => (father.stem, "овна"),
            (false, false, true) => (father.stem, "евич"),
            (false, true, true) => (father.stem, "евна"),
        })
    }
}
