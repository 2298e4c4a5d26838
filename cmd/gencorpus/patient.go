package main

import (
	"fmt"
	"time"
)

// Family and given names, several with Latin-1 accents, so that the corpus
// exercises ISO_IR 100 decoding and accent-insensitive PN matching. The first
// entries are stable: tests and scripts/bench rely on patient 0 of a seed
// being "Müller^Jürgen" only through the manifest, never by index.
var familyNames = []string{
	"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
	"Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf",
	"Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hartmann", "Lange",
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson",
	"García", "Martínez", "Rodríguez", "López", "González", "Pérez", "Sánchez", "Gómez",
	"Dubois", "Lefèvre", "Moreau", "Girard", "Bonnet", "François", "Mercier", "Bérubé",
	"Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Colombo", "Ricci", "Marino",
	"Nilsson", "Jönsson", "Ødegård", "Håkansson", "Sørensen", "Ångström", "O'Brien", "Abbott",
}

var maleNames = []string{
	"Jürgen", "Hans", "Peter", "Thomas", "Michael", "Andreas", "Stefan", "Klaus",
	"José", "Ángel", "Raúl", "François", "Jérôme", "Søren", "Björn", "Jörg",
	"John", "James", "Robert", "David", "William", "Luca", "Marco", "Giovanni",
}

var femaleNames = []string{
	"Anna", "Maria", "Ursula", "Sabine", "Monika", "Karin", "Jutta", "Brigitte",
	"Élise", "Zoë", "Chloé", "Renée", "Hélène", "Märta", "Åsa", "Inés",
	"Sophie", "Emma", "Mary", "Linda", "Susan", "Giulia", "Chiara", "Lucía",
}

var middleNames = []string{"A", "B", "C", "E", "J", "K", "M", "P", "R", "S"}

// patient is one synthetic patient: a given patient number always yields the
// same demographics for a seed.
type patient struct {
	ID        string
	Name      string // PN, UTF-8 (encoded to Latin-1 when written)
	BirthDate string // DA
	Sex       string // M or F
}

// makePatient derives patient number n under an ID prefix.
func makePatient(seed uint64, prefix string, n int) patient {
	h := hash64(seed, "patient", prefix, n)
	sex, given := "M", maleNames
	if h&1 == 1 {
		sex, given = "F", femaleNames
	}
	fam := familyNames[(h>>1)%uint64(len(familyNames))]
	g := given[(h>>9)%uint64(len(given))]
	name := fam + "^" + g
	switch (h >> 17) % 16 {
	case 0: // middle name initial
		name += "^" + middleNames[(h>>21)%uint64(len(middleNames))]
	case 1: // title prefix
		name += "^^Dr."
	case 2: // suffix
		name += "^^^Jr"
	}
	// Born between 1935 and 2015.
	birth := time.Date(1935, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int((h>>25)%(80*365)))
	return patient{
		ID:        fmt.Sprintf("%s%06d", prefix, n),
		Name:      name,
		BirthDate: birth.Format("20060102"),
		Sex:       sex,
	}
}

var physicians = []string{
	"Weiß^Hannelore^^Dr.", "Novák^Tomas", "House^Gregory^^Dr.", "Curie^Marie", "Ibáñez^Nuria^^Dr.",
	"", "Okafor^Chidi", "Lindqvist^Pär",
}

var manufacturers = []string{"SIEMENS", "GE MEDICAL SYSTEMS", "Philips", "TOSHIBA", "CANON_MEC"}

var institutions = []string{"Klinikum Süd", "St. Mary's Hospital", "Hôpital Saint-Louis", "Ospedale Maggiore", "Universitätsspital"}
